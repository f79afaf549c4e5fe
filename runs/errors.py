"""Error groups: each new error event joins the group of its fingerprint."""

from collections import defaultdict

from django.db import connection

from runs.fingerprint import FINGERPRINT_VERSION, error_fingerprint, error_title
from runs.models import ErrorOccurrence, Run
from runs.protocol import Event

ERROR_TYPES = {"error": "run", "tool_error": "tool"}


def errors_apply(*, run: Run, events: list[Event]) -> None:
    """Group the run's new `error` and `tool_error` events."""
    errors = [e for e in events if e.type in ERROR_TYPES]
    if not errors:
        return
    by_fingerprint: dict[str, list[Event]] = defaultdict(list)
    for event in errors:
        error = event.data["error"]
        fingerprint = error_fingerprint(error["type"], error["message"], error.get("traceback"))
        by_fingerprint[fingerprint].append(event)
    for fingerprint in sorted(by_fingerprint):  # one order for every worker
        group_events = by_fingerprint[fingerprint]
        group_id = _upsert_group(run, fingerprint, group_events)
        _record_occurrences(run, group_id, group_events)
        for event in group_events:
            if event.type == "error" and (
                run.error_group_id is None or run.status_event_id == event.event_id
            ):
                run.error_group_id = group_id


def _upsert_group(run: Run, fingerprint: str, events: list[Event]) -> int:
    sample = max(events, key=lambda e: e.ts)
    error = sample.data["error"]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO runs_errorgroup (project_id, fingerprint, fingerprint_version, kind,
                error_type, title, message, traceback, first_seen, last_seen, event_count,
                run_count, agents)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, %s)
            ON CONFLICT (project_id, fingerprint) DO UPDATE SET
                first_seen = LEAST(runs_errorgroup.first_seen, EXCLUDED.first_seen),
                last_seen = GREATEST(runs_errorgroup.last_seen, EXCLUDED.last_seen),
                message = CASE WHEN EXCLUDED.last_seen > runs_errorgroup.last_seen
                    THEN EXCLUDED.message ELSE runs_errorgroup.message END,
                traceback = CASE WHEN EXCLUDED.last_seen > runs_errorgroup.last_seen
                    THEN EXCLUDED.traceback ELSE runs_errorgroup.traceback END,
                event_count = runs_errorgroup.event_count + EXCLUDED.event_count,
                agents = CASE WHEN EXCLUDED.agents[1] = ANY(runs_errorgroup.agents)
                    OR cardinality(runs_errorgroup.agents) >= 50
                    THEN runs_errorgroup.agents
                    ELSE runs_errorgroup.agents || EXCLUDED.agents END
            RETURNING id
            """,
            [
                run.project_id,
                fingerprint,
                FINGERPRINT_VERSION,
                ERROR_TYPES[sample.type],
                error["type"][:200],
                error_title(error["type"], error["message"])[:300],
                error["message"][:10000],
                (error.get("traceback") or "")[:50000],
                min(e.ts for e in events),
                sample.ts,
                len(events),
                [run.agent_name or "unknown"],
            ],
        )
        return cursor.fetchone()[0]


def _record_occurrences(run: Run, group_id: int, events: list[Event]) -> None:
    first_in_run = not ErrorOccurrence.objects.filter(group_id=group_id, run=run).exists()
    ErrorOccurrence.objects.bulk_create(
        [
            ErrorOccurrence(
                project_id=run.project_id, group_id=group_id, run=run, event_id=e.event_id, ts=e.ts
            )
            for e in events
        ],
        ignore_conflicts=True,
    )
    daily: dict = defaultdict(int)
    for event in events:
        daily[event.ts.date()] += 1
    with connection.cursor() as cursor:
        if first_in_run:
            cursor.execute(
                "UPDATE runs_errorgroup SET run_count = run_count + 1 WHERE id = %s", [group_id]
            )
        for day, count in sorted(daily.items()):
            cursor.execute(
                "INSERT INTO runs_errorgroupdaily (group_id, day, count) VALUES (%s, %s, %s) "
                "ON CONFLICT (group_id, day) DO UPDATE "
                "SET count = runs_errorgroupdaily.count + EXCLUDED.count",
                [group_id, day, count],
            )
