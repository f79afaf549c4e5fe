"""The debug checklist: DESIGN.md section 5's production-debugging guide, made automatic.

When a cloud run fails: confirm the same input works locally; run ``charm validate``;
check the logs; confirm the required environment variables and OAuth connections;
test in Docker if the problem looks runtime-specific. Each of the five checks is a
pure function of plain values that returns a ``Check``: pass (✓, found OK), fail
(✗, found a problem) or skip (–, not applicable or no data), one line of evidence,
and where that evidence is. ``run_checklist`` reads what they need in at most eight
queries, however long the run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from django.db import connection

from runs.compare import (
    RUNTIME_KEYS,
    Alignment,
    EventRow,
    align,
    code,
    code_parts,
    divergence_text,
    runs_spans_and_calls,
    runs_steps,
    step_events,
)
from runs.fingerprint import missing_names
from runs.models import Run, ToolSpan
from studio.models import Project

FAILED_STATUSES = ("failed", "timed_out", "validation_failed")
CheckState = Literal["pass", "fail", "skip"]
LOCAL_RUNS_SHOWN = 5
LOG_LINES_BEFORE = 5
LOG_LINES_AFTER = 2
ERROR_LEVELS = ("error", "critical")


@dataclass(frozen=True, slots=True)
class Link:
    """Where a check's evidence is: a page of this run ("detail") or a comparison."""

    text: str
    page: Literal["detail", "compare"]
    other_run_id: str = ""  # compare: the run to compare with
    tab: str = ""  # detail: the tab to open
    line: int | None = None  # detail, logs tab: the log line number
    item: str = ""  # detail, timeline tab: the item to select ("status:<event id>")


@dataclass(frozen=True)
class Check:
    key: str
    title: str
    state: CheckState
    evidence: str  # one line; names in `backticks` render as code
    link: Link | None = None
    hint: str = ""  # the next thing to try, when there is one
    notes: tuple[str, ...] = ()  # further lines of evidence

    @property
    def evidence_parts(self) -> list[tuple[str, bool]]:
        return code_parts(self.evidence)

    @property
    def hint_parts(self) -> list[tuple[str, bool]]:
        return code_parts(self.hint)

    @property
    def note_parts(self) -> list[list[tuple[str, bool]]]:
        return [code_parts(note) for note in self.notes]


@dataclass(frozen=True, slots=True)
class RunBrief:
    """Another run, as the checks see it."""

    run_id: str
    environment: str
    status: str
    started_at: datetime
    error_type: str = ""
    runtime: dict = field(default_factory=dict)

    @classmethod
    def of(cls, run: Run) -> RunBrief:
        return cls(
            run_id=run.run_id,
            environment=run.environment,
            status=run.status,
            started_at=run.started_at,
            error_type=run.error_type,
            runtime=run.runtime if isinstance(run.runtime, dict) else {},
        )


# ── 1. Same input locally ────────────────────────────────────────────────────


def local_reference(local_runs: Sequence[RunBrief]) -> RunBrief | None:
    """The local run to compare with: the latest that succeeded, else the latest that
    finished (``local_runs`` is latest first)."""
    succeeded = [r for r in local_runs if r.status == "succeeded"]
    if succeeded:
        return succeeded[0]
    finished = [r for r in local_runs if r.status not in ("running", "queued", "validating")]
    return finished[0] if finished else None


def check_same_input_locally(
    *,
    environment: str,
    has_inputs: bool,
    local_runs: Sequence[RunBrief],
    reference: RunBrief | None,
    divergence: str = "",
) -> Check:
    """Has this input been run locally, how did that end, and where do the runs diverge.

    ``local_runs``: local runs of the project with the same input fingerprint, latest
    first; ``reference`` the one compared (``local_reference``); ``divergence`` the
    one-line alignment of the two timelines."""
    title = "Same input locally"
    if environment == "local":
        return Check("local", title, "skip", "This run ran locally itself.")
    if not has_inputs:
        return Check(
            "local",
            title,
            "skip",
            "The run's inputs were never reported (no run_start event), so runs with the "
            "same input cannot be found.",
        )
    if not local_runs:
        return Check(
            "local",
            title,
            "fail",
            "Never run locally with this input.",
            hint="Run it locally with the same input: `charm run --local`",
        )
    notes = (divergence,) if divergence else ()
    if reference is None:
        return Check(
            "local",
            title,
            "skip",
            f"A local run with this input has not finished yet ({code(local_runs[0].run_id)}).",
        )
    link = Link(f"Compare with {reference.run_id}", "compare", other_run_id=reference.run_id)
    if reference.status == "succeeded":
        return Check(
            "local",
            title,
            "pass",
            f"It succeeded locally with the same input ({code(reference.run_id)}), so the "
            "difference is environmental.",
            link=link,
            notes=notes,
        )
    ended = reference.status + (f" with {reference.error_type}" if reference.error_type else "")
    count = len(local_runs)
    which = f"none of the {count} local runs" if count > 1 else "the local run"
    return Check(
        "local",
        title,
        "fail",
        f"It fails locally too: {which} with this input succeeded; the latest ended {ended} "
        f"({code(reference.run_id)}).",
        link=link,
        hint="Reproduce and debug it locally: `charm run --local`",
        notes=notes,
    )


# ── 2. Validation ────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class StatusEvent:
    status: str
    message: str
    ts: datetime
    event_id: str = ""


def check_validation(
    *, run_status: str, status_message: str, history: Sequence[StatusEvent]
) -> Check:
    """What the run's ``validating`` / ``validation_failed`` statuses say.

    ``history`` is the run's status changes in order (a run_start counts as running)."""
    title = "Validation"
    failed = [e for e in history if e.status == "validation_failed"]
    if failed or run_status == "validation_failed":
        message = (failed[-1].message if failed else "") or status_message
        item = f"status:{failed[-1].event_id}" if failed and failed[-1].event_id else ""
        evidence = f"Validation failed: {message}" if message else "Validation failed (no message)."
        return Check(
            "validation",
            title,
            "fail",
            evidence,
            link=Link("Status history", "detail", item=item) if item else None,
            hint="Run `charm validate` locally against the same charm.yaml.",
        )
    validating = [e for e in history if e.status == "validating"]
    if not validating:
        return Check(
            "validation",
            title,
            "skip",
            "No validation status was reported for this run.",
            hint="Run `charm validate` to check charm.yaml and the environment before deploying.",
        )
    started = validating[0]
    running = next((e for e in history if e.status == "running" and e.ts >= started.ts), None)
    if running is not None:
        return Check(
            "validation",
            title,
            "pass",
            "It passed validation: `validating`, then `running`"
            + (f" ({started.message})." if started.message else "."),
            link=_status_link(started),
        )
    return Check(
        "validation",
        title,
        "fail",
        f"Validation never finished: the run reported `validating`, then ended `{run_status}` "
        "without reporting `running`.",
        link=_status_link(started),
        hint="Run `charm validate` locally against the same charm.yaml.",
    )


def _status_link(event: StatusEvent) -> Link | None:
    return (
        Link("Status history", "detail", item=f"status:{event.event_id}")
        if event.event_id
        else None
    )


# ── 3. Logs ──────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class LogLine:
    number: int  # 1-based, in the run's log order (ts, seq, event_id)
    ts: datetime
    level: str
    message: str
    logger: str = ""
    stream: str = ""

    @property
    def is_error(self) -> bool:
        return self.level in ERROR_LEVELS


@dataclass(frozen=True)
class LogWindow:
    """The log lines around a failure: the last few at or before it, the first few after."""

    total: int
    failure_at: datetime | None
    lines: tuple[LogLine, ...] = ()
    first_error: LogLine | None = None  # the first error/critical line at or before it
    last_before: int = 0  # the number of the last line at or before the failure


def check_logs(*, window: LogWindow) -> Check:
    """Do the logs show an error before the failure; where to read them."""
    title = "Logs"
    if window.total == 0:
        return Check(
            "logs",
            title,
            "skip",
            "No log lines were received for this run.",
            hint="Send `log` events, or pipe the process's stdout to the ingest API.",
        )
    if window.first_error is not None:
        line = window.first_error
        where = f"{line.logger}: " if line.logger else ""
        return Check(
            "logs",
            title,
            "fail",
            f"Line {line.number} is the first {line.level} line before the failure: "
            f"{where}{_one_line(line.message)}",
            link=Link(f"Log line {line.number}", "detail", tab="logs", line=line.number),
        )
    target = window.last_before or 1
    plural = "s" if window.total != 1 else ""
    return Check(
        "logs",
        title,
        "pass",
        f"{window.total} log line{plural}, none at error or critical level before the failure.",
        link=Link("Logs at the failure", "detail", tab="logs", line=target),
    )


def _one_line(text: str, limit: int = 200) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


# ── 4. Environment variables and OAuth connections ───────────────────────────


@dataclass(frozen=True, slots=True)
class ErrorText:
    """An error the run reported: its crash, or a tool's error."""

    source: str  # "the run's error", "tool `charge`"
    type: str
    message: str
    traceback: str = ""
    item: str = ""  # the timeline item that shows it: "error:<event id>", "tool:<span key>"


def declared_names(config: object, key: str) -> list[str]:
    """The names a run's config declares under ``key`` (required_env or oauth)."""
    names = config.get(key) if isinstance(config, dict) else None
    if not isinstance(names, list):
        return []
    return [str(name) for name in names if isinstance(name, str) and name]


def check_env_and_oauth(*, environment: str, config: object, errors: Sequence[ErrorText]) -> Check:
    """Names declared in ``config.required_env`` / ``config.oauth`` against what the
    errors say is missing (``runs.fingerprint.missing_names``)."""
    title = "Environment variables and OAuth connections"
    env, oauth = declared_names(config, "required_env"), declared_names(config, "oauth")
    missing: dict[str, ErrorText] = {}
    for error in errors:
        for name in sorted(missing_names(error.message, error.traceback or None)):
            missing.setdefault(name, error)
    if missing:
        findings = [_missing_finding(name, env, oauth, environment) for name in missing]
        sources = [
            f"{code(name)}: said by {error.source} {code(_error_title(error))}"
            for name, error in missing.items()
        ]
        first = next(iter(missing.values()))
        return Check(
            "env", title, "fail", "; ".join(findings), link=_error_link(first), notes=tuple(sources)
        )
    declared = _declared_summary(env, oauth)
    if not errors:
        evidence = "The run reported no error to check the declared names against."
        if declared:
            evidence += f" Declared: {declared}."
        return Check("env", title, "skip", evidence)
    if not declared:
        return Check(
            "env",
            title,
            "skip",
            "No environment variables or OAuth connections are declared in config, and the "
            "error names none as missing.",
        )
    return Check(
        "env",
        title,
        "pass",
        f"The error names no missing variable or connection. Declared: {declared}.",
        link=_error_link(errors[0]),
    )


def _error_link(error: ErrorText) -> Link | None:
    return Link("The error", "detail", item=error.item) if error.item else None


def _missing_finding(name: str, env: list[str], oauth: list[str], environment: str) -> str:
    where = f"the {environment} environment"
    declared_env = next((n for n in env if n.upper() == name.upper()), None)
    if declared_env:
        return (
            f"{code(declared_env)} is declared in config.required_env and the error says it is "
            f"missing — set it in {where}"
        )
    declared_oauth = next((n for n in oauth if n.lower() == name.lower()), None)
    if declared_oauth:
        return (
            f"OAuth connection {code(declared_oauth)} is declared in config.oauth and the error "
            f"says it is missing — connect it in {where}"
        )
    return (
        f"{code(name)} is missing and not declared in charm.yaml (neither required_env nor "
        f"oauth) — declare it and set it in {where}"
    )


def _declared_summary(env: list[str], oauth: list[str]) -> str:
    parts = []
    if env:
        parts.append(f"{len(env)} env var{'s' if len(env) != 1 else ''} ({', '.join(env)})")
    if oauth:
        plural = "s" if len(oauth) != 1 else ""
        parts.append(f"{len(oauth)} OAuth connection{plural} ({', '.join(oauth)})")
    return " and ".join(parts)


def _error_title(error: ErrorText) -> str:
    message = _one_line(error.message, 120)
    return f"{error.type}: {message}" if message else error.type


# ── 5. Runtime ───────────────────────────────────────────────────────────────


def check_runtime(*, runtime: object, reference: RunBrief | None, agent_name: str = "") -> Check:
    """Runtime values (image, python, sdk_version, region) against a run that worked.

    ``reference`` is the local run of check 1, else the latest succeeded cloud run of the
    same agent. Only keys both runs reported are compared; a key one run left out is
    named, never counted as a difference."""
    title = "Runtime"
    if reference is None:
        who = f" of {code(agent_name)}" if agent_name else ""
        return Check(
            "runtime",
            title,
            "skip",
            f"Nothing to compare with: no local run with this input and no succeeded cloud "
            f"run{who}.",
        )
    mine = runtime if isinstance(runtime, dict) else {}
    theirs = reference.runtime
    local = reference.environment == "local"
    there = "locally" if local else f"in {code(reference.run_id)}"
    compared, differences, one_sided = [], [], []
    for key in RUNTIME_KEYS:
        a, b = _value(mine.get(key)), _value(theirs.get(key))
        if a is None and b is None:
            continue
        if a is None or b is None:
            missing_side = "here" if a is None else there
            one_sided.append(f"{key} (not reported {missing_side})")
        elif a != b:
            differences.append(f"{key} {a} here vs {b}" + (" locally" if local else ""))
        else:
            compared.append(f"{key} {a}")
    link = Link(f"Compare with {reference.run_id}", "compare", other_run_id=reference.run_id)
    notes = []
    if reference.environment != "local":
        notes.append(
            f"Compared with the latest succeeded cloud run of {code(agent_name)}, as no local "
            "run with this input finished."
        )
    if one_sided:
        notes.append(f"Not compared: {', '.join(one_sided)}.")
    if differences:
        image = _value(mine.get("image")) or _value(theirs.get("image"))
        hint = "Test in Docker with the cloud image" + (f": `{image}`" if image else ".")
        return Check(
            "runtime",
            title,
            "fail",
            ("" if local else f"Against {code(reference.run_id)}: ") + "; ".join(differences) + ".",
            link=link,
            hint=hint,
            notes=tuple(notes),
        )
    if compared:
        return Check(
            "runtime",
            title,
            "pass",
            f"Same {', '.join(compared)} here and {there}.",
            link=link,
            notes=tuple(notes),
        )
    return Check(
        "runtime",
        title,
        "skip",
        "Nothing to compare: the two runs report no runtime value in common."
        if one_sided
        else "Neither run reported its runtime (image, python, sdk_version, region).",
        link=link,
        notes=tuple(notes),
    )


def _value(value: object) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


# ── Selector ─────────────────────────────────────────────────────────────────


@dataclass
class Checklist:
    run: Run
    applies: bool
    checks: list[Check] = field(default_factory=list)
    local_runs: list[RunBrief] = field(default_factory=list)
    reference: RunBrief | None = None
    alignment: Alignment | None = None
    window: LogWindow | None = None
    failure_at: datetime | None = None

    @property
    def problems(self) -> int:
        return sum(check.state == "fail" for check in self.checks)


# What the checks read of another run, and what its timeline needs: no deferred loads.
_BRIEF_FIELDS = (
    "run_id", "environment", "status", "started_at", "error_type", "runtime", "project_id",
    "status_terminal", "first_event_at", "last_event_at",
)  # fmt: skip


def run_checklist(*, project: Project, run_id: str) -> Checklist | None:
    """The checklist of one run of ``project``; None when it has no such run.

    At most eight queries, however long the runs: the run; its local runs with the same
    input (the latest five and the latest that succeeded, one query); the latest
    succeeded cloud run of the agent when no local run finished; the run's status,
    action and error events; the reference run's action and error events; both runs'
    tool spans; both runs' LLM calls; the log lines around the failure."""
    run = Run.objects.filter(project=project, run_id=run_id).first()
    if run is None:
        return None
    if run.status not in FAILED_STATUSES:
        return Checklist(run=run, applies=False)
    local = _local_runs(run)
    local_runs = [RunBrief.of(r) for r in local]
    reference_run = _reference_run(run, local)
    reference = RunBrief.of(reference_run) if reference_run else None

    runs = [run, reference_run] if reference_run else [run]
    events = {run.pk: step_events(run, extra_types=("status", "run_start"))}
    if reference_run:
        events[reference_run.pk] = step_events(reference_run)
    spans, calls = runs_spans_and_calls(runs)
    alignment, divergence = None, ""
    if reference_run and reference_run.environment == "local":
        steps = runs_steps(runs, events, spans, calls)
        alignment = align(steps[reference_run.pk], steps[run.pk])
        divergence = divergence_text(alignment, label_a="local", label_b=_label(run))
        if alignment.divergence is not None:
            divergence = "Where they diverge: a" + divergence.removeprefix("A")
    failure_at = _failure_time(run, events[run.pk])
    window = _log_window(run, failure_at)
    checks = [
        check_same_input_locally(
            environment=run.environment,
            has_inputs=run.has_run_start and bool(run.input_fingerprint),
            local_runs=local_runs[:LOCAL_RUNS_SHOWN],
            reference=local_reference(local_runs),
            divergence=divergence,
        ),
        check_validation(
            run_status=run.status,
            status_message=run.status_message,
            history=_status_history(events[run.pk]),
        ),
        check_logs(window=window),
        check_env_and_oauth(
            environment=run.environment,
            config=run.config,
            errors=_errors(run, events[run.pk], spans[run.pk]),
        ),
        check_runtime(runtime=run.runtime, reference=reference, agent_name=run.agent_name),
    ]
    return Checklist(
        run=run,
        applies=True,
        checks=checks,
        local_runs=local_runs[:LOCAL_RUNS_SHOWN],
        reference=reference,
        alignment=alignment,
        window=window,
        failure_at=failure_at,
    )


def _label(run: Run) -> str:
    return "this run" if run.environment == "local" else run.environment


def _local_runs(run: Run) -> list[Run]:
    """The latest local runs with the same input, plus the latest that succeeded when it
    is older than those: one query. Latest first."""
    if run.environment == "local" or not run.input_fingerprint or not run.has_run_start:
        return []
    same = (
        Run.objects.filter(
            project_id=run.project_id, input_fingerprint=run.input_fingerprint, environment="local"
        )
        .exclude(pk=run.pk)
        .only(*_BRIEF_FIELDS)
    )
    latest = same.order_by("-started_at", "-id")[:LOCAL_RUNS_SHOWN]
    succeeded = same.filter(status="succeeded").order_by("-started_at", "-id")[:1]
    rows = {r.pk: r for r in latest.union(succeeded, all=True)}
    return sorted(rows.values(), key=lambda r: (r.started_at, r.pk), reverse=True)


def _reference_run(run: Run, local_runs: list[Run]) -> Run | None:
    """The run this one is compared with: check 1's local run, else the latest succeeded
    cloud run of the same agent."""
    brief = local_reference([RunBrief.of(r) for r in local_runs])
    if brief is not None:
        return next(r for r in local_runs if r.run_id == brief.run_id)
    return (
        Run.objects.filter(
            project_id=run.project_id,
            agent_name=run.agent_name,
            environment="cloud",
            status="succeeded",
        )
        .exclude(pk=run.pk)
        .only(*_BRIEF_FIELDS)
        .order_by("-started_at", "-id")
        .first()
    )


def _status_history(events: list[EventRow]) -> list[StatusEvent]:
    history = []
    for event_id, ts, _seq, type_, data in events:
        if type_ == "status":
            status, message = str(data.get("status")), str(data.get("message") or "")
            history.append(StatusEvent(status, message, ts, event_id))
        elif type_ == "run_start":
            history.append(StatusEvent("running", "", ts, event_id))
    return history


def _errors(run: Run, events: list[EventRow], spans: list[ToolSpan]) -> list[ErrorText]:
    """The run's crash (from its events, with the traceback) and its tools' errors."""
    found = [
        _error_text("the run's error", data["error"], f"error:{event_id}")
        for event_id, _ts, _seq, type_, data in events
        if type_ == "error" and isinstance(data.get("error"), dict)
    ]
    if not found and run.error_message:
        found.append(ErrorText("the run's error", run.error_type, run.error_message))
    if not found and run.status_message:
        found.append(ErrorText("the run's status message", run.status, run.status_message))
    found += [
        _error_text(f"tool {code(span.tool_name)}", span.error, f"tool:{span.span_key}")
        for span in spans
        if span.status == "error" and isinstance(span.error, dict)
    ]
    return found


def _error_text(source: str, error: dict, item: str) -> ErrorText:
    return ErrorText(
        source=source,
        type=str(error.get("type") or ""),
        message=str(error.get("message") or ""),
        traceback=str(error.get("traceback") or ""),
        item=item,
    )


def _failure_time(run: Run, events: list[EventRow]) -> datetime | None:
    """When the run failed: its last crash (as the detail page's logs mark it), else the
    status that ended it."""
    crashes = [ts for _id, ts, _seq, type_, _data in events if type_ == "error"]
    return crashes[-1] if crashes else run.status_ts or run.ended_at or run.last_event_at


_LOG_WINDOW_SQL = """
WITH logs AS (
    SELECT ts, data, row_number() OVER (ORDER BY ts, coalesce(seq, -1), event_id) AS n
    FROM runs_event
    WHERE project_id = %(project)s AND run_pk = %(run)s AND type = 'log'
      AND ts BETWEEN %(first)s AND %(last)s
), cut AS (
    SELECT (SELECT coalesce(max(n), 0) FROM logs WHERE ts <= %(failure)s) AS k,
           (SELECT count(*) FROM logs) AS total
)
(SELECT 'line', l.n, l.ts, l.data, cut.k, cut.total FROM logs l, cut
  WHERE l.n > cut.k - %(before)s AND l.n <= cut.k + %(after)s)
UNION ALL
(SELECT 'first_error', l.n, l.ts, l.data, cut.k, cut.total FROM logs l, cut
  WHERE l.n <= cut.k AND l.data->>'level' = ANY(%(levels)s) ORDER BY l.n LIMIT 1)
UNION ALL
(SELECT 'counts', NULL, NULL, NULL, cut.k, cut.total FROM cut)
"""


def _log_window(run: Run, failure_at: datetime | None) -> LogWindow:
    """One query: the lines around the failure, the first error before it, the counts."""
    with connection.cursor() as cursor:
        cursor.execute(
            _LOG_WINDOW_SQL,
            {
                "project": run.project_id,
                "run": run.pk,
                "first": run.first_event_at,
                "last": run.last_event_at,
                "failure": failure_at or run.last_event_at,
                "before": LOG_LINES_BEFORE,
                "after": LOG_LINES_AFTER,
                "levels": list(ERROR_LEVELS),
            },
        )
        rows = cursor.fetchall()
    lines, first_error, last_before, total = [], None, 0, 0
    for kind, number, ts, data, cut, count in rows:
        last_before, total = cut, count
        if kind == "line":
            lines.append(_log_line(number, ts, data))
        elif kind == "first_error":
            first_error = _log_line(number, ts, data)
    lines.sort(key=lambda line: line.number)
    return LogWindow(
        total=total,
        failure_at=failure_at,
        lines=tuple(lines),
        first_error=first_error,
        last_before=last_before,
    )


def _log_line(number: int, ts: datetime, data: object) -> LogLine:
    if isinstance(data, str):
        data = json.loads(data)
    data = data if isinstance(data, dict) else {}
    return LogLine(
        number=number,
        ts=ts,
        level=str(data.get("level") or "info"),
        message=str(data.get("message") or ""),
        logger=str(data.get("logger") or ""),
        stream=str(data.get("stream") or ""),
    )
