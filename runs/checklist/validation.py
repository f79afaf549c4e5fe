"""Check 2, validation: what the run's ``validating`` / ``validation_failed``
statuses say."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from runs.checklist.base import Check, Link


@dataclass(frozen=True, slots=True)
class StatusEvent:
    status: str
    message: str
    ts: datetime
    event_id: str = ""


@dataclass(frozen=True, slots=True)
class Report:
    """The latest `charm validate` output sent for the run's agent."""

    agent: str
    received_at: datetime
    errors: int
    warnings: int
    lines: Sequence[dict]


SHOWN_REPORT_LINES = 10
SEND_REPORT_HINT = (
    "Send `charm validate` to Studio: `charm validate | curl -X POST $STUDIO/api/v1/validations "
    '-H "Authorization: Bearer $KEY" -H "X-Charm-Agent: NAME" -H "Content-Type: text/plain" '
    "--data-binary @-`."
)


def check_validation(
    *,
    run_status: str,
    status_message: str,
    history: Sequence[StatusEvent],
    report: Report | None = None,
) -> Check:
    """What the run's ``validating`` / ``validation_failed`` statuses say, and the latest
    `charm validate` output sent for its agent.

    ``history`` is the run's status changes in order (a run_start counts as running)."""
    check = _check_statuses(run_status=run_status, status_message=status_message, history=history)
    if report is None:
        if check.state == "skip":
            return Check(check.key, check.title, "skip", check.evidence, hint=SEND_REPORT_HINT)
        return check
    notes = _report_notes(report)
    when = f"{report.received_at:%Y-%m-%d %H:%M} UTC"
    if report.errors:
        evidence = (
            f"`charm validate` reported {report.errors} error{'s' if report.errors > 1 else ''} "
            f"for `{report.agent}` ({when})."
        )
        return Check(
            check.key,
            check.title,
            "fail",
            evidence,
            link=check.link,
            hint="Fix what it names, run `charm validate` again, then push.",
            notes=(*notes, *((check.evidence,) if check.state == "fail" else ())),
        )
    if check.state == "skip":
        warned = ""
        if report.warnings:
            warned = f", {report.warnings} warning{'s' if report.warnings > 1 else ''}"
        evidence = f"`charm validate` passed for `{report.agent}` ({when}{warned})."
        return Check(check.key, check.title, "pass", evidence, notes=notes)
    return Check(check.key, check.title, check.state, check.evidence, check.link, check.hint, notes)


def _report_notes(report: Report) -> tuple[str, ...]:
    flagged = [line["text"] for line in report.lines if line["level"] in ("error", "warning")]
    shown = flagged[:SHOWN_REPORT_LINES]
    if len(flagged) > len(shown):
        shown.append(f"… and {len(flagged) - len(shown)} more")
    return tuple(shown)


def _check_statuses(
    *, run_status: str, status_message: str, history: Sequence[StatusEvent]
) -> Check:
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
