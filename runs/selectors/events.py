"""A run's stored events.

`runs_event` is partitioned by day on `ts`. Every read of a run's events is bounded by
the run's first and last event time, so PostgreSQL opens only that run's day partitions
instead of every partition of the table: this module is the one place that bound is
written. SQL elsewhere takes it as `RUN_EVENTS` with the parameters of `run_bounds`.
"""

import json
from datetime import datetime

from django.db import connection

from runs.models import Run

# One run's events: project, run and the run's time bound (named parameters).
RUN_EVENTS = "project_id = %(project)s AND run_pk = %(run)s AND ts BETWEEN %(first)s AND %(last)s"
# The events of several runs of one project, bounded by the earliest and latest of them.
RUNS_EVENTS = (
    "project_id = %(project)s AND run_pk = ANY(%(runs)s) AND ts BETWEEN %(first)s AND %(last)s"
)
# Their order on a timeline: time, then the emitter's sequence, then the id.
EVENT_ORDER = "ts, coalesce(seq, -1), event_id"

EventRow = tuple  # (event_id, ts, seq, type, data)


def run_bounds(run: Run, *, until: datetime | None = None) -> dict:
    """The parameters of `RUN_EVENTS`; `until` ends the bound earlier than the run's
    last event."""
    return {
        "project": run.project_id,
        "run": run.pk,
        "first": run.first_event_at,
        "last": until or run.last_event_at,
    }


def runs_bounds(project_id: int, runs: list[Run]) -> dict:
    """The parameters of `RUNS_EVENTS`, for runs that have events."""
    return {
        "project": project_id,
        "runs": sorted({run.pk for run in runs}),
        "first": min(run.first_event_at for run in runs),
        "last": max(run.last_event_at for run in runs),
    }


def run_events(
    run: Run, *, types: list[str] | None, after: tuple | None, limit: int
) -> list[EventRow]:
    """A run's events in timeline order: of `types` (all when None), after the
    (ts, seq, event_id) position `after`, at most `limit`."""
    sql = [f"SELECT event_id, ts, seq, type, data FROM runs_event WHERE {RUN_EVENTS}"]
    params = run_bounds(run)
    if types:
        sql.append("AND type = ANY(%(types)s)")
        params["types"] = types
    if after:
        sql.append(f"AND ({EVENT_ORDER}) > (%(after_ts)s, %(after_seq)s, %(after_id)s)")
        params.update(after_ts=after[0], after_seq=after[1], after_id=after[2])
    sql.append(f"ORDER BY {EVENT_ORDER} LIMIT %(limit)s")
    params["limit"] = limit
    with connection.cursor() as cursor:
        cursor.execute(" ".join(sql), params)
        return [_row(*row) for row in cursor.fetchall()]


def event_get(*, run: Run, event_id: str) -> EventRow | None:
    """One stored event of the run: (event_id, ts, seq, type, data), or None."""
    sql = f"""
        SELECT event_id, ts, seq, type, data FROM runs_event
        WHERE {RUN_EVENTS} AND event_id = %(event_id)s
        LIMIT 1
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {**run_bounds(run), "event_id": event_id})
        row = cursor.fetchone()
    return None if row is None else _row(*row)


def _row(event_id, ts, seq, type_, data) -> EventRow:
    return event_id, ts, seq, type_, json.loads(data) if isinstance(data, str) else data
