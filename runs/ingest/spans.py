"""Tool spans in the database.

A span with a span_id is patched: the batch's events of it are paired and upserted,
and its earliest start and earliest end win, whichever order they came in. Tool events
without one pair by their order among every event of that tool in the run, so those
spans of a tool are rebuilt from its stored events whenever one of its events arrives.
"""

import json

from django.db import connection

from runs.models import Run, ToolSpan
from runs.protocol import Event
from runs.selectors.events import RUNS_EVENTS, runs_bounds
from runs.spans import ToolEvent, pair_tool_events
from studio.sql import insert_rows

TOOL_TYPES = ("tool_start", "tool_end", "tool_error")

# On a patch, the stored side (start or end) stays unless the new one is earlier by
# (ts, seq, event_id), a missing seq counting as -1, as runs.spans orders events.
_EARLIER = (
    "EXCLUDED.{side}_event_id <> '' AND (runs_toolspan.{side}_event_id = '' OR "
    "(EXCLUDED.{at}, coalesce(EXCLUDED.{side}_seq, -1), EXCLUDED.{side}_event_id) < "
    "(runs_toolspan.{at}, coalesce(runs_toolspan.{side}_seq, -1), "
    "runs_toolspan.{side}_event_id))"
)
_SIDES = {
    "start": ("started_at", ("tool_name", "started_at", "start_seq", "start_event_id",
                             "input_str", "attributes")),
    "end": ("ended_at", ("status", "ended_at", "end_seq", "end_event_id", "output", "error")),
}  # fmt: skip
_PATCH = ", ".join(
    f"{column} = CASE WHEN {_EARLIER.format(side=side, at=at)} "
    f"THEN EXCLUDED.{column} ELSE runs_toolspan.{column} END"
    for side, (at, columns) in _SIDES.items()
    for column in columns
)


def spans_apply(
    *, project_id: int, runs: list[Run], events: dict[str, list[Event]], created: set[str]
) -> None:
    """Patch the spans with a span_id that have new events and rebuild, per (run, tool),
    those without one: at most four queries. A run `created` by this batch has no other
    events, so its new ones are not read back."""
    explicit: dict[int, list[ToolEvent]] = {}
    touched: set[tuple[int, str]] = set()
    for run in runs:
        for event in events.get(run.run_id, ()):
            if event.type in TOOL_TYPES:
                if event.data.get("span_id") is None:
                    touched.add((run.pk, event.data["tool_name"]))
                else:
                    explicit.setdefault(run.pk, []).append(_new_tool_event(event))
    _spans_patch(project_id, explicit)
    if touched:
        _spans_rebuild(project_id, runs, events, created, touched)


def _spans_patch(project_id: int, explicit: dict[int, list[ToolEvent]]) -> None:
    rows = sorted(
        (_span_row(project_id, run_pk, span) for run_pk, tool_events in explicit.items()
         for span in pair_tool_events(tool_events)),
        key=lambda row: (row["run_id"], row["span_key"]),
    )  # fmt: skip
    if not rows:
        return
    insert_rows(
        ToolSpan, rows, on_conflict=f"ON CONFLICT (run_id, span_key) DO UPDATE SET {_PATCH}"
    )


def _spans_rebuild(
    project_id: int,
    runs: list[Run],
    events: dict[str, list[Event]],
    created: set[str],
    touched: set[tuple[int, str]],
) -> None:
    runs_by_pk = {run.pk: run for run in runs}
    stored: dict[tuple[int, str], list[ToolEvent]] = {key: [] for key in touched}
    older = {pk for pk, _ in touched if runs_by_pk[pk].run_id not in created}
    for run_pk, tool_event in _tool_events(project_id, [runs_by_pk[pk] for pk in older]):
        key = (run_pk, tool_event.tool_name)
        if key in stored:
            stored[key].append(tool_event)
    for run in runs:
        if run.run_id in created:
            for event in events.get(run.run_id, ()):
                if event.type in TOOL_TYPES and event.data.get("span_id") is None:
                    stored[(run.pk, event.data["tool_name"])].append(_new_tool_event(event))
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM runs_toolspan WHERE NOT explicit AND (run_id, tool_name) IN "
            "(SELECT * FROM unnest(%s::bigint[], %s::text[]))",
            [[pk for pk, _ in touched], [name for _, name in touched]],
        )
    insert_rows(
        ToolSpan,
        [
            _span_row(project_id, run_pk, span)
            for (run_pk, _), tool_events in sorted(stored.items())
            for span in pair_tool_events(tool_events)
        ],
    )


def _span_row(project_id: int, run_pk: int, span) -> dict:
    return {
        "project_id": project_id,
        "run_id": run_pk,
        "span_key": span.span_key,
        "explicit": span.explicit,
        "tool_name": span.tool_name,
        "status": span.status,
        "started_at": span.started_at,
        "ended_at": span.ended_at,
        "input_str": span.input_str or "",
        "output": span.output,
        "error": span.error,
        "start_event_id": span.start_event_id or "",
        "end_event_id": span.end_event_id or "",
        "start_seq": span.start_seq,
        "end_seq": span.end_seq,
        "attributes": span.attributes,
    }


def _tool_events(project_id: int, runs: list[Run]) -> list[tuple[int, ToolEvent]]:
    """Every stored tool event without a span_id of these runs, bounded by their event
    times so PostgreSQL reads only their days' partitions."""
    if not runs:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT run_pk, event_id, ts, seq, type, data FROM runs_event"
            f" WHERE {RUNS_EVENTS} AND type = ANY(%(types)s) AND data->>'span_id' IS NULL",
            {**runs_bounds(project_id, runs), "types": list(TOOL_TYPES)},
        )
        rows = cursor.fetchall()
    return [(row[0], _tool_event(*row[1:])) for row in rows]


def _new_tool_event(event: Event) -> ToolEvent:
    return _tool_event(event.event_id, event.ts, event.seq, event.type, event.data)


def _tool_event(event_id: str, ts, seq: int | None, type_: str, data) -> ToolEvent:
    if isinstance(data, str):
        data = json.loads(data)
    return ToolEvent(
        type=type_,
        tool_name=data["tool_name"],
        span_id=data.get("span_id"),
        ts=ts,
        seq=seq,
        event_id=event_id,
        payload=data,
    )
