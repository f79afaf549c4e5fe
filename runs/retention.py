"""Per-project retention of raw events; runs, calls, spans, errors and rollups stay.

Event partitions hold one day of every project, so a day is dropped only once the
project keeping events longest no longer needs it. Before that, the projects that
keep less lose their rows of the day by DELETE, in chunks of `CHUNK` rows picked by
`ctid` and committed one by one: each chunk holds its row locks and its WAL for a
moment only, so ingestion and readers of the same partition never wait on a purge of
millions of rows. `ctid` rather than run by run: a day of one busy run can be
millions of rows, and a ctid chunk is the same size whatever the runs look like
(bench/retention_delete.py measures it).

Every partition between the drop line and a project's cutoff is probed each night,
not only the newest: late events with old timestamps may land in a day already
purged. A probe that finds nothing is one index lookup per partition.
"""

from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q

from runs.partitions import drop_partitions_before, existing_partitions, partition_name
from studio.models import RETENTION_MAX_DAYS, RETENTION_MIN_DAYS, Project

CHUNK = 10_000


def retention_days(project: Project) -> int:
    """How many days `project` keeps raw events."""
    return project.event_retention_days or settings.EVENT_RETENTION_DAYS


def retention_parse(text: str) -> int | None:
    """Days from the settings form: a whole number in bounds, or empty for the default."""
    text = text.strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or not (
        RETENTION_MIN_DAYS <= int(text) <= RETENTION_MAX_DAYS
    ):
        raise ValueError(
            f"retention: expected a whole number of days from {RETENTION_MIN_DAYS} to "
            f"{RETENTION_MAX_DAYS}, or empty for the default; got {text[:20]!r}"
        )
    return int(text)


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def events_retain(today: date) -> dict:
    """Remove each project's events older than its retention, dropping the days no
    project needs any more; then mark each project purged up to its cutoff."""
    cutoffs: dict[int, date] = {
        project.id: today - timedelta(days=retention_days(project))
        for project in Project.objects.only("id", "event_retention_days")
    }
    # The longest retention; with no project yet, the default.
    keep_from = min(cutoffs.values(), default=today - timedelta(days=settings.EVENT_RETENTION_DAYS))
    deleted = 0
    for day in existing_partitions():
        if day < keep_from:
            continue  # dropped whole below
        due = sorted(pid for pid, cutoff in cutoffs.items() if day < cutoff)
        if due:
            deleted += partition_purge(day, due, before=midnight(day + timedelta(days=1)))
    dropped = drop_partitions_before(keep_from)
    for cutoff in set(cutoffs.values()):
        ids = [pid for pid, c in cutoffs.items() if c == cutoff]
        Project.objects.filter(id__in=ids).filter(
            Q(events_purged_before__isnull=True) | Q(events_purged_before__lt=midnight(cutoff))
        ).update(events_purged_before=midnight(cutoff))
    return {"dropped": dropped, "events_deleted": deleted}


def partition_purge(day: date, project_ids: list[int], *, before: datetime) -> int:
    """Delete the events of `project_ids` older than `before` from `day`'s partition,
    `CHUNK` rows per transaction; the number deleted."""
    table = partition_name(day)
    sql = (
        f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
        f"SELECT ctid FROM {table} WHERE project_id = ANY(%s) AND ts < %s LIMIT %s))"
    )
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [project_ids, before, CHUNK])
            deleted = cursor.rowcount
        total += deleted
        if deleted < CHUNK:
            return total


def events_purged_note(run) -> dict | None:
    """What the run page says when retention removed some of the run's events."""
    project = run.project
    purged = project.events_purged_before
    if purged is None or run.first_event_at >= purged:
        return None
    return {"days": retention_days(project), "before": purged}
