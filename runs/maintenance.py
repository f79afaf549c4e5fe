"""Periodic upkeep: stalled runs, event partitions ahead of time, retention."""

from datetime import timedelta

from django.db import connection
from django.utils import timezone

from runs.models import IngestBatch
from runs.partitions import ensure_partitions
from runs.retention import events_retain

DAYS_AHEAD = 7
APPLIED_BATCH_DAYS = 7  # applied batches are kept a week, to re-apply by hand if needed


def runs_flag_stalled() -> int:
    """Flag running runs whose last event is older than their project's stall time.

    Other tools only see a hung run when it ends; Studio shows it while it hangs.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE runs_run r SET stalled = true
            FROM studio_project p
            WHERE r.project_id = p.id AND NOT r.status_terminal AND NOT r.stalled
              AND r.last_event_at < now() - make_interval(secs => p.stall_after_seconds)
            """
        )
        return cursor.rowcount


def partitions_maintain() -> dict:
    """Create the next days' partitions; remove events past each project's retention;
    purge old batches."""
    today = timezone.now().date()
    ensure_partitions({today + timedelta(days=n) for n in range(-1, DAYS_AHEAD + 1)})
    retained = events_retain(today)
    purged, _ = IngestBatch.objects.filter(
        status=IngestBatch.Status.APPLIED,
        received_at__lt=timezone.now() - timedelta(days=APPLIED_BATCH_DAYS),
    ).delete()
    return {
        "dropped": [d.isoformat() for d in retained["dropped"]],
        "events_deleted": retained["events_deleted"],
        "batches_purged": purged,
    }
