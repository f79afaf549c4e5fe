"""``run_checklist``: reads what the five checks need, in at most eight queries,
and runs them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import Case, When

from runs.checklist.base import Check, RunBrief
from runs.checklist.env import ErrorText, check_env_and_oauth
from runs.checklist.logs import ERROR_LEVELS, LogLine, LogWindow, check_logs
from runs.checklist.runtime import check_runtime
from runs.checklist.same_input import check_same_input_locally, local_reference
from runs.checklist.validation import Report, StatusEvent, check_validation
from runs.compare import (
    Alignment,
    EventRow,
    align,
    code,
    divergence_text,
    runs_spans_and_calls,
    runs_steps,
    step_events,
)
from runs.models import Run, ToolSpan, ValidationReport
from runs.selectors.events import EVENT_ORDER, RUN_EVENTS, run_bounds
from studio.models import Project

FAILED_STATUSES = ("failed", "timed_out", "validation_failed")
LOCAL_RUNS_SHOWN = 5
LOG_LINES_BEFORE = 5
LOG_LINES_AFTER = 2


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
            report=_validation_report(run),
        ),
        check_logs(window=window),
        check_env_and_oauth(
            environment=run.environment,
            config=run.config,
            errors=_errors(run, events[run.pk], spans[run.pk]),
        ),
        check_runtime(
            runtime=run.runtime,
            reference=reference,
            agent_name=run.agent_name,
            exit_code=run.exit_code,
        ),
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


_LOG_WINDOW_SQL = f"""
WITH logs AS (
    SELECT ts, data, row_number() OVER (ORDER BY {EVENT_ORDER}) AS n
    FROM runs_event
    WHERE {RUN_EVENTS} AND type = 'log'
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
                **run_bounds(run),
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


def _validation_report(run: Run) -> Report | None:
    """The latest `charm validate` sent for the run's agent by the time it ended (else the
    latest at all): one query, newest first."""
    if not run.agent_name:
        return None
    reports = ValidationReport.objects.filter(
        project_id=run.project_id, agent_name=run.agent_name
    ).order_by("-received_at")
    if run.ended_at is not None:
        reports = reports.annotate(
            in_time=Case(When(received_at__lte=run.ended_at, then=1), default=0)
        ).order_by("-in_time", "-received_at")
    found = reports.values(
        "agent_name", "received_at", "error_count", "warning_count", "lines"
    ).first()
    if found is None:
        return None
    return Report(
        agent=found["agent_name"],
        received_at=found["received_at"],
        errors=found["error_count"],
        warnings=found["warning_count"],
        lines=found["lines"],
    )
