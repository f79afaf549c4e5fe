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
