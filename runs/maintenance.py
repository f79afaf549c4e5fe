"""Periodic upkeep: stalled runs, event partitions ahead of time, retention."""

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from runs.models import IngestBatch
from runs.partitions import drop_partitions_before, ensure_partitions

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
    """Create the next days' partitions; drop days past retention; purge old batches."""
    today = timezone.now().date()
    ensure_partitions({today + timedelta(days=n) for n in range(-1, DAYS_AHEAD + 1)})
    dropped = drop_partitions_before(today - timedelta(days=settings.EVENT_RETENTION_DAYS))
    purged, _ = IngestBatch.objects.filter(
        status=IngestBatch.Status.APPLIED,
        received_at__lt=timezone.now() - timedelta(days=APPLIED_BATCH_DAYS),
    ).delete()
    return {"dropped": [d.isoformat() for d in dropped], "batches_purged": purged}
