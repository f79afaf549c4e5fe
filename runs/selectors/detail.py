"""Reads for the run detail page and its live tail: a fixed number of queries each,
whatever the number of events in the run.

Every function takes a `Run` already fetched through `run_for_detail(project=...)`,
so no read reaches another project's rows; the event reads also filter by the run's
project id and bound `ts` by the run's first and last event, so PostgreSQL reads
only that run's day partitions.

Time to first token (TTFT) of an LLM call: the time from the latest stored event of
the run before the call's first token (tokens are not stored events: a tool end, an
agent action, a log line, a status change, another call's usage) to that first
token. It is what the agent waited for the model once it had handed over.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import F, OuterRef, Q, Subquery
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Left

from runs.models import Event, LlmCall, Run, ToolSpan
from runs.presentation import AS_STORED, Redact
from runs.selectors.events import EVENT_ORDER, RUN_EVENTS, run_bounds, run_events
from runs.spans import span_state
from runs.timeline import (
    LOG_LEVELS,
    Item,
    LogBucket,
    Waterfall,
    axis_for,
    build_waterfall,
    log_markers,
)
from studio.models import Project

ROW_CAP = 250  # timeline rows per page: rendering more takes the page past 100 ms
LOG_PAGE = 200  # log lines per page
LOG_BUCKETS = 240  # log markers on the log lane, at most
_INPUT_PREVIEW_CHARS = 200  # of a tool's input, read for its row's preview
LOG_MESSAGE_CHARS = 4000  # longer log lines are cut on the page (the API has them whole)
FAILED_STATUSES = ("failed", "timed_out", "validation_failed")
INSTANT_TYPES = ("run_start", "status", "run_end", "error", "agent_action")
STATUS_OF_TYPE = {"run_start": "running", "run_end": "succeeded", "error": "failed"}
_LEVEL_RANK_SQL = (
    "CASE coalesce(data->>'level', 'info') WHEN 'debug' THEN 0 WHEN 'info' THEN 1 "
    "WHEN 'warning' THEN 2 WHEN 'error' THEN 3 WHEN 'critical' THEN 4 ELSE 1 END"
)


def run_for_detail(*, project: Project, run_id: str) -> Run | None:
    """The run `run_id` of `project`, or None: the only way in to the reads below."""
    return (
        Run.objects.filter(project=project, run_id=run_id)
        .select_related("error_group", "project")
        .defer("search")
        .first()
    )


def run_axis_bounds(run: Run) -> tuple[datetime, datetime]:
    """The run's time span: from its first event (or start) to its last (or end)."""
    start = min(run.started_at, run.first_event_at)
    end = max(filter(None, (run.last_event_at, run.ended_at, start)))
    return start, end


def run_position(run: Run) -> int:
    """How far the live view has seen: the run's last event time in epoch microseconds."""
    return round(run.last_event_at.timestamp() * 1_000_000)


# ── Timeline ───────────────────────────────────────────────────────────────────


@dataclass
class Timeline:
    waterfall: Waterfall
    failing: str | None  # the failing item, "kind:key", on a failed run
    log_count: int
    level_counts: dict[str, int]
    page: int
    cap: int


def run_timeline(
    *, run: Run, page: int = 1, cap: int | None = None, redact: Redact = AS_STORED
) -> Timeline:
    """The waterfall of a run, `cap` (ROW_CAP) rows per page: four queries. `redact`
    applies to the rows' previews before they are cut short."""
    cap = cap or ROW_CAP
    limit = page * cap + 1
    events = run_events(run, types=list(INSTANT_TYPES), after=None, limit=limit)
    spans = _spans(run, limit, redact)
    calls = _calls(run, limit)
    start, end = run_axis_bounds(run)
    axis = axis_for(start, end)
    items = [_event_item(e, redact) for e in events] + spans + calls
    waterfall = build_waterfall(items, axis, cap=cap, offset=(page - 1) * cap)
    buckets, level_counts = _log_buckets(run, axis.start, axis.end)
    waterfall.log_markers = log_markers(buckets, axis, bucket_count=LOG_BUCKETS)
    return Timeline(
        waterfall=waterfall,
        failing=failing_item(run, items),
        log_count=sum(level_counts.values()),
        level_counts=level_counts,
        page=page,
        cap=cap,
    )


def failing_item(run: Run, items: list[Item]) -> str | None:
    """What a failed run is pre-selected on: its last error event, else its last failed
    tool call, else the status change that failed it."""
    if run.status not in FAILED_STATUSES:
        return None
    for kind in ("error", "tool", "status"):
        candidates = [i for i in items if i.kind == kind and i.error]
        if candidates:
            last = max(candidates, key=lambda i: (i.end or i.start, i.key))
            return f"{last.kind}:{last.key}"
    return None


def _event_item(row: tuple, redact: Redact = AS_STORED) -> Item:
    event_id, ts, _seq, type_, data = row
    data = redact.value(data)
    if type_ == "agent_action":
        tool = str(data.get("tool") or "")
        return Item(
            kind="action",
            key=event_id,
            label=f"action · {tool}",
            start=ts,
            tool=tool,
            detail=_short(data.get("tool_input")),
        )
    if type_ == "error":
        error = data.get("error") or {}
        return Item(
            kind="error",
            key=event_id,
            label=str(error.get("type") or "error"),
            start=ts,
            error=True,
            status="failed",
            detail=_short(error.get("message")),
        )
    status = data.get("status") or STATUS_OF_TYPE.get(type_, "")
    label = {"run_start": "run started", "run_end": "run ended"}.get(type_, f"status → {status}")
    return Item(
        kind="status",
        key=event_id,
        label=label,
        start=ts,
        status=status,
        error=status in FAILED_STATUSES,
        detail=_short(data.get("message")),
    )


def _short(value: object, limit: int = 64) -> str:
    """A one-line preview; JSON loses its quotes and outer braces: `q: overdue, n: 3`."""
    if value is None or value == "":
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    if text[:1] in "{[" and '"' in text:
        text = text.replace('"', "")
        text = text[1:-1] if text[:1] == "{" and text[-1:] == "}" else text.lstrip("{")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _spans(run: Run, limit: int, redact: Redact = AS_STORED) -> list[Item]:
    rows = (
        ToolSpan.objects.filter(project_id=run.project_id, run=run)
        .annotate(
            input_preview=Left("input_str", _INPUT_PREVIEW_CHARS), error_type=KT("error__type")
        )
        .values(
            "span_key",
            "tool_name",
            "status",
            "started_at",
            "ended_at",
            "input_preview",
            "error_type",
        )
        .order_by(F("started_at").asc(nulls_last=True), "ended_at", "span_key")[:limit]
    )
    items = []
    for span in rows:
        state = span_state(_SpanStatus(span["status"]), run.status_terminal)
        start = span["started_at"] or span["ended_at"]
        failed = state == "error"
        preview = span["input_preview"] or ""
        if len(preview) == _INPUT_PREVIEW_CHARS:
            preview = redact.cut_text(preview)
        else:
            preview = redact.text(preview)
        items.append(
            Item(
                kind="tool",
                key=span["span_key"],
                label=span["tool_name"],
                start=start,
                end=span["ended_at"] if span["started_at"] else None,
                open=state == "open",
                error=failed,
                status=state,
                tool=span["tool_name"],
                detail=(span["error_type"] or "error") if failed else _short(preview),
            )
        )
    return items


@dataclass
class _SpanStatus:
    status: str


def _previous_event_ts() -> Subquery:
    """The latest stored event of the call's run before its first token."""
    return Subquery(
        Event.objects.filter(
            project_id=OuterRef("project_id"),
            run_pk=OuterRef("run_id"),
            ts__gte=OuterRef("run__first_event_at"),
            ts__lt=OuterRef("first_token_at"),
        )
        .order_by("-ts")
        .values("ts")[:1]
    )


def _calls(run: Run, limit: int) -> list[Item]:
    rows = (
        LlmCall.objects.filter(project_id=run.project_id, run=run)
        .annotate(wait_start=_previous_event_ts(), error_type=KT("details__error__type"))
        .values(
            "call_id",
            "model",
            "token_count",
            "first_token_at",
            "last_token_at",
            "usage_at",
            "started_at",
            "ended_at",
            "output_tokens",
            "wait_start",
            "error_type",
        )
        .order_by(Coalesce("first_token_at", "started_at", "usage_at").asc(), "call_id")[:limit]
    )
    items = []
    for call in rows:
        first, last = call["first_token_at"], call["last_token_at"]
        count = call["token_count"] or call["output_tokens"]
        detail = f"{call['model'] or 'model?'} · {count:,} tokens" if count else call["model"]
        if first:  # streamed: from the first token to the last, after the wait for it
            start, end, wait_start = first, last, call["wait_start"]
        else:  # told whole: from when it was sent to when it answered
            start, end, wait_start = call["started_at"] or call["usage_at"], call["ended_at"], None
        if end is not None and (start is None or end <= start):
            end = None
        failed = call["error_type"] is not None
        items.append(
            Item(
                kind="llm",
                key=call["call_id"],
                label=f"llm · {call['model'] or call['call_id']}",
                start=start,
                end=end,
                wait_start=wait_start,
                error=failed,
                status="error" if failed else "",
                detail=call["error_type"] if failed else detail,
            )
        )
    return [i for i in items if i.start is not None]


def _log_buckets(
    run: Run, start: datetime, end: datetime
) -> tuple[list[LogBucket], dict[str, int]]:
    """Log lines per slice of the run: count, worst level, first line. One query."""
    span = max((end - start).total_seconds(), 0.001)
    sql = f"""
        SELECT bucket, count(*), max(rank),
               (array_agg(event_id ORDER BY {EVENT_ORDER}))[1], min(ts),
               count(*) FILTER (WHERE rank = 0), count(*) FILTER (WHERE rank = 1),
               count(*) FILTER (WHERE rank = 2), count(*) FILTER (WHERE rank = 3),
               count(*) FILTER (WHERE rank = 4)
        FROM (
            SELECT event_id, ts, seq, {_LEVEL_RANK_SQL} AS rank,
                   least(%(last_bucket)s,
                         floor(extract(epoch FROM ts - %(start)s) / %(span)s * %(buckets)s)
                   )::int AS bucket
            FROM runs_event
            WHERE {RUN_EVENTS} AND type = 'log'
        ) AS lines
        GROUP BY bucket ORDER BY bucket
    """
    params = {
        **run_bounds(run),
        "last_bucket": LOG_BUCKETS - 1, "start": start, "span": span, "buckets": LOG_BUCKETS,
    }  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    buckets = []
    counts = dict.fromkeys(LOG_LEVELS, 0)
    for bucket, count, worst, first_id, first_at, *per_level in rows:
        buckets.append(LogBucket(bucket, count, LOG_LEVELS[worst], first_id, first_at))
        for level, n in zip(LOG_LEVELS, per_level, strict=True):
            counts[level] += n
    return buckets, counts


# ── Errors ─────────────────────────────────────────────────────────────────────


def run_error_events(*, run: Run, limit: int = 5) -> list[dict]:
    """The run's `error` events (crashes), oldest first, with their tracebacks."""
    rows = run_events(run, types=["error"], after=None, limit=limit)
    return [
        {"event_id": event_id, "ts": ts, **(data.get("error") or {})}
        for event_id, ts, _seq, _type, data in rows
    ]


# ── One item, for the side pane ────────────────────────────────────────────────


def span_get(*, run: Run, span_key: str) -> ToolSpan | None:
    return ToolSpan.objects.filter(project_id=run.project_id, run=run, span_key=span_key).first()


def span_after_action(*, run: Run, tool: str, at: datetime) -> ToolSpan | None:
    """The tool call an agent action most likely started: the first one of that tool
    starting at or after it."""
    return (
        ToolSpan.objects.filter(
            project_id=run.project_id, run=run, tool_name=tool, started_at__gte=at
        )
        .only("span_key", "tool_name", "status", "started_at", "ended_at")
        .order_by("started_at", "span_key")
        .first()
    )


def call_get(*, run: Run, call_id: str) -> LlmCall | None:
    """One LLM call with `wait_start`, the latest stored event before its first token."""
    return (
        LlmCall.objects.filter(project_id=run.project_id, run=run, call_id=call_id)
        .select_related("price")
        .annotate(wait_start=_previous_event_ts())
        .first()
    )


def log_line_number(*, run: Run, at: datetime, event_id: str | None = None) -> int:
    """The line number (from 1) of the log line `event_id` at `at`, or of the last line
    at or before `at` when no event id is given; 0 when there is none."""
    sql = f"SELECT count(*) FROM runs_event WHERE {RUN_EVENTS} AND type = 'log'"
    params = run_bounds(run, until=at)
    if event_id is not None:
        sql += f" AND ({EVENT_ORDER}) <= (SELECT {EVENT_ORDER} FROM runs_event"
        sql += " WHERE project_id = %(project)s AND run_pk = %(run)s AND ts = %(last)s"
        sql += " AND event_id = %(event_id)s LIMIT 1)"
        params["event_id"] = event_id
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


# ── Logs ───────────────────────────────────────────────────────────────────────


@dataclass
class LogLine:
    number: int
    event_id: str
    ts: datetime
    level: str
    logger: str
    stream: str
    parts: list[tuple[str, bool]]  # (text, is a search hit): the template escapes each
    cut: bool
    near_failure: bool = False
    page: int = 1  # the page of the unfiltered log this line is on, for its link


@dataclass
class LogPage:
    lines: list[LogLine]
    page: int
    pages: int
    matches: int
    levels: tuple[str, ...]
    q: str
    per_page: int
    filtered: bool
    failure_line: int | None = None
    hits: int = 0
    chips: list[LevelChip] = field(default_factory=list)


@dataclass(frozen=True)
class LevelChip:
    level: str
    count: int
    checked: bool


def log_page(
    *,
    run: Run,
    levels: tuple[str, ...] = (),
    q: str = "",
    page: int = 1,
    per_page: int = LOG_PAGE,
    failure_at: datetime | None = None,
) -> LogPage:
    """One page of the run's log lines, numbered as in the whole log, filtered by level
    (none ticked: all) and by text (case-insensitive), matches marked. Two queries
    (three past the last page, one more with a failure time)."""
    levels = tuple(level for level in LOG_LEVELS if level in levels)
    if set(levels) == set(LOG_LEVELS):
        levels = ()
    filters, params = [], {}
    if levels:
        filters.append("coalesce(data->>'level', 'info') = ANY(%(levels)s)")
        params["levels"] = list(levels)
    if q:
        filters.append("data->>'message' ILIKE %(q)s")
        params["q"] = "%" + _like_escape(q) + "%"
    where = ("WHERE " + " AND ".join(filters)) if filters else ""
    page = max(1, page)
    rows = _log_rows(run, where, params, per_page, (page - 1) * per_page)
    if not rows and page > 1:
        count = _log_rows(run, where, params, 1, 0)
        matches = count[0][-1] if count else 0
        page = max(1, -(-matches // per_page))
        rows = _log_rows(run, where, params, per_page, (page - 1) * per_page)
    matches = rows[0][-1] if rows else 0
    failure_line = None
    if failure_at is not None:
        failure_line = log_line_number(run=run, at=failure_at) or None
    lines = [_log_line(row, q, failure_line, per_page) for row in rows]
    counts = _level_counts(run)
    return LogPage(
        lines=lines,
        page=page,
        pages=max(1, -(-matches // per_page)),
        matches=matches,
        levels=levels,
        q=q,
        per_page=per_page,
        filtered=bool(filters),
        failure_line=failure_line,
        hits=sum(1 for line in lines for _text, hit in line.parts if hit),
        chips=[LevelChip(level, counts.get(level, 0), level in levels) for level in LOG_LEVELS],
    )


def _level_counts(run: Run) -> dict[str, int]:
    sql = f"""
        SELECT coalesce(data->>'level', 'info'), count(*) FROM runs_event
        WHERE {RUN_EVENTS} AND type = 'log'
        GROUP BY 1
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, run_bounds(run))
        return dict(cursor.fetchall())


def _log_rows(run: Run, where: str, params: dict, limit: int, offset: int) -> list[tuple]:
    sql = f"""
        SELECT line_no, event_id, ts, coalesce(data->>'level', 'info'), data->>'logger',
               data->>'stream', left(data->>'message', %(chars)s),
               length(data->>'message') > %(chars)s, count(*) OVER ()
        FROM (
            SELECT event_id, ts, data, row_number() OVER (ORDER BY {EVENT_ORDER}) AS line_no
            FROM runs_event
            WHERE {RUN_EVENTS} AND type = 'log'
        ) AS lines
        {where}
        ORDER BY line_no LIMIT %(limit)s OFFSET %(offset)s
    """
    all_params = {
        **run_bounds(run),
        **params,
        "chars": LOG_MESSAGE_CHARS,
        "limit": limit,
        "offset": offset,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, all_params)
        return cursor.fetchall()


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _log_line(row: tuple, q: str, failure_line: int | None, per_page: int) -> LogLine:
    number, event_id, ts, level, logger, stream, message, cut, _matches = row
    near = failure_line is not None and abs(number - failure_line) <= 3
    return LogLine(
        number=number,
        event_id=event_id,
        ts=ts,
        level=level if level in LOG_LEVELS else "info",
        logger=logger or "",
        stream=stream or "",
        parts=highlight(message or "", q),
        cut=bool(cut),
        near_failure=near,
        page=(number - 1) // per_page + 1,
    )


def highlight(text: str, q: str) -> list[tuple[str, bool]]:
    """Split `text` into (part, is_match) for a case-insensitive search `q`."""
    if not q:
        return [(text, False)]
    parts: list[tuple[str, bool]] = []
    position = 0
    for match in re.finditer(re.escape(q), text, flags=re.IGNORECASE):
        if match.start() > position:
            parts.append((text[position : match.start()], False))
        parts.append((match.group(0), True))
        position = match.end()
    if position < len(text):
        parts.append((text[position:], False))
    return parts or [("", False)]


# ── Live tail ──────────────────────────────────────────────────────────────────


@dataclass
class LiveState:
    """What the live view knows of a run between two looks."""

    position: int
    status: str
    stalled: bool
    terminal: bool


def live_state(*, project_id: int, run_pk: int) -> LiveState | None:
    """The run's position and status, in one small query (None once it is deleted)."""
    row = (
        Run.objects.filter(project_id=project_id, pk=run_pk)
        .values_list("last_event_at", "status", "stalled", "status_terminal")
        .first()
    )
    if row is None:
        return None
    last_event_at, status, stalled, terminal = row
    return LiveState(round(last_event_at.timestamp() * 1_000_000), status, stalled, terminal)


def run_for_live(*, project_id: int, run_pk: int) -> Run | None:
    return (
        Run.objects.filter(Q(project_id=project_id) & Q(pk=run_pk))
        .select_related("error_group")
        .defer("search")
        .first()
    )
