"""The durable inbox: store an accepted batch, hand it to a worker, apply it once.

A batch row is committed before the API answers 202, and its task is sent only
after that commit. Redis may lose the task (it keeps nothing on disk); the sweeper
finds the pending row and sends it again. Applying is idempotent, so a task that
runs twice changes nothing the second time.
"""

import logging
import zlib
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from runs import live
from runs.ingest.apply import ApplyResult, events_apply
from runs.models import IngestBatch
from runs.partitions import ensure_partitions, known_partitions
from runs.protocol import Event, Rejection, dumps_events, loads_events
from studio.celery import app as celery_app
from studio.models import Project
from studio.sql import insert_rows

logger = logging.getLogger(__name__)
KEPT_REJECTIONS = 100  # per batch, for the ingest health page


def batch_store(
    *,
    project: Project,
    events: list[Event],
    rejected: list[Rejection],
    source: str = "http",
    noted: list[Rejection] = (),
) -> list[IngestBatch]:
    """Commit the batch, one row per shard its runs fall in, and send their tasks once
    the commit is done. Call inside atomic().

    `noted` are lines kept (as log lines) that were not what they claimed to be: the
    ingest health page lists them beside the rejections, which go on the first row."""
    kept = [{"index": r.index, "error": r.error} for r in rejected[:KEPT_REJECTIONS]]
    room = KEPT_REJECTIONS - len(kept)
    kept += [{"index": r.index, "error": r.error, "kept": True} for r in noted[:room]]
    shards: dict[int, list[Event]] = {}
    shard_of_run: dict[str, int] = {}  # a request holds a few runs' many events
    for event in events:
        shard = shard_of_run.get(event.run_id)
        if shard is None:
            shard = shard_of_run[event.run_id] = shard_of(event.run_id)
        shards.setdefault(shard, []).append(event)
    now = timezone.now()
    base = {"project_id": project.pk, "source": source, "received_at": now}
    rows = [
        {
            **base,
            "shard": shard,
            "event_count": len(shard_events),
            "payload": dumps_events(shard_events),
            "enqueued_at": now,
        }
        for shard, shard_events in sorted(shards.items())
    ] or [{**base, "status": IngestBatch.Status.APPLIED}]
    rows[0].update(rejected_count=len(rejected), noted_count=len(noted), rejections=kept)
    # Typed arrays as binary parameters: a payload goes as it is, where Django's client
    # side binding would first copy it with every quote escaped.
    ids = dict(insert_rows(IngestBatch, rows, returning="shard, id"))  # one row a shard
    batches = [IngestBatch(pk=ids[row.get("shard", 0)], **row) for row in rows]
    if events:
        transaction.on_commit(lambda: enqueue_all([batch.pk for batch in batches]))
    return batches


def shard_of(run_id: str) -> int:
    """The shard of a run: a stable hash, the same in every process."""
    return zlib.crc32(run_id.encode()) % settings.INGEST_SHARDS


def enqueue_all(batch_ids: list[int]) -> None:
    """Send the batches' tasks in one Redis round trip (kombu's publish batch): a request
    stores one batch a shard, and each message sent alone costs a new Redis client."""
    if len(batch_ids) == 1:
        enqueue(batch_ids[0])
        return
    try:
        with celery_app.producer_or_acquire() as producer, producer.batch():
            for batch_id in batch_ids:
                celery_app.send_task(
                    "runs.tasks.apply_batch",
                    args=(batch_id,),
                    producer=producer,
                    retry_policy=_SEND_ONCE_MORE,
                )
    except Exception:
        # Delivery is uncertain: send each again on its own (a task sent twice finds
        # its batch applied or being applied, and returns).
        for batch_id in batch_ids:
            enqueue(batch_id)


_SEND_ONCE_MORE = {"max_retries": 1, "interval_start": 0, "interval_step": 0}


def enqueue(batch_id: int) -> None:
    try:
        # Sent by name through Studio's app: the task module imports this one. One
        # retry at once, for a pooled connection the broker dropped; no more, nor any
        # wait: that would hold the request (and the web process's one thread for sync
        # views) while the broker is down, and the sweeper sends the batch anyway.
        celery_app.send_task(
            "runs.tasks.apply_batch", args=(batch_id,), retry_policy=_SEND_ONCE_MORE
        )
    except Exception:
        # The batch is committed; the sweeper sends it again once the broker is back.
        logger.warning("could not send batch %s to the broker; the sweeper will", batch_id)


COALESCE_EVENTS = 5000  # at most this many events of waiting batches join one apply


def batch_apply(batch_id: int) -> ApplyResult | None:
    """Apply one pending batch, with other pending batches of its project that wait
    unclaimed (up to `COALESCE_EVENTS`), in one transaction: a live stream sends many
    small bodies, and one apply of several costs about what one apply of one does.
    None if the batch is already applied, failed or being applied."""
    pending = IngestBatch.objects.filter(pk=batch_id, status=IngestBatch.Status.PENDING)
    # A batch another worker has joined into its apply is locked until that commits:
    # skipped here, its payload is neither read nor parsed for nothing.
    with transaction.atomic():
        payload = (
            pending.select_for_update(skip_locked=True).values_list("payload", flat=True).first()
        )
    if payload is None:
        return None
    try:
        events = loads_events(payload)
        ensure_partitions(_days(events))
        with transaction.atomic():
            batch = (
                pending.select_for_update(skip_locked=True, of=("self",))
                .select_related("project")
                .defer("payload")
                .first()
            )
            if batch is None:
                return None
            joined = _join_waiting(batch, len(events))
            for other_events in joined.values():
                events += other_events
            # Safe here: the batch row was committed durably before the 202. If the
            # server crashes before this commit reaches disk, the whole apply, its
            # "applied" mark included, is undone, and the sweeper applies it again.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
            result = events_apply(
                project_id=batch.project_id,
                organization_id=batch.project.organization_id,
                events=events,
            )
            now = timezone.now()
            batch.status = IngestBatch.Status.APPLIED
            batch.applied_at = now
            batch.duplicate_count = result.duplicates  # the counts of all it applied
            batch.late_count = result.late
            batch.attempts += 1
            batch.save(
                update_fields=["status", "applied_at", "duplicate_count", "late_count", "attempts"]
            )
            if joined:
                IngestBatch.objects.filter(pk__in=list(joined)).update(
                    status=IngestBatch.Status.APPLIED, applied_at=now, attempts=F("attempts") + 1
                )
            transaction.on_commit(lambda: live.publish(batch.project_id, result.runs))
    except Exception as error:
        _record_failure(batch_id, error)
        raise
    return result


def _days(events: list[Event]) -> set:
    return {e.ts.date() for e in events if e.type != "llm_new_token"}


def _join_waiting(batch: IngestBatch, taken: int) -> dict[int, list[Event]]:
    """Claim other pending batches of the project and shard that no worker holds, oldest
    first, while the events stay under `COALESCE_EVENTS`; only those whose day
    partitions exist (making one inside the apply transaction would lock the event
    table).

    A batch claimed here is applied here: its own task, finding it locked, returns. So
    one claimed but left out is sent again once this transaction ends."""
    room = COALESCE_EVENTS - taken
    waiting = (
        IngestBatch.objects.filter(
            project_id=batch.project_id, shard=batch.shard, status=IngestBatch.Status.PENDING
        )
        .exclude(pk=batch.pk)
        .filter(event_count__lte=room)
        .order_by("received_at", "id")
        .values_list("pk", "event_count")[:50]
    )
    wanted = []
    for pk, count in waiting if room > 0 else ():
        if count > room:
            break
        wanted.append(pk)
        room -= count
    if not wanted:
        return {}
    claimed = (
        IngestBatch.objects.filter(pk__in=wanted, status=IngestBatch.Status.PENDING)
        .select_for_update(skip_locked=True)
        .order_by("id")
        .values_list("pk", "payload")
    )
    joined: dict[int, list[Event]] = {}
    for pk, payload in claimed:
        events = loads_events(payload)
        if known_partitions(_days(events)):
            joined[pk] = events
        else:
            transaction.on_commit(lambda pk=pk: enqueue(pk))
    return joined


def _record_failure(batch_id: int, error: Exception) -> None:
    """Count the attempt; after too many the batch is marked failed, with its error, for
    the ingest health page. It is never deleted: it can be retried by hand."""
    with transaction.atomic():
        batch = IngestBatch.objects.select_for_update().get(pk=batch_id)
        batch.attempts += 1
        batch.last_error = f"{type(error).__name__}: {error}"[:5000]
        if batch.attempts >= settings.BATCH_MAX_ATTEMPTS:
            batch.status = IngestBatch.Status.FAILED
        batch.save(update_fields=["attempts", "last_error", "status"])


def batches_sweep() -> int:
    """Send again every batch still pending a while after it was last sent."""
    cutoff = timezone.now() - timedelta(seconds=settings.PENDING_BATCH_RETRY_SECONDS)
    stale = list(
        IngestBatch.objects.filter(status=IngestBatch.Status.PENDING, enqueued_at__lt=cutoff)
        .order_by("received_at")
        .values_list("pk", flat=True)[:1000]
    )
    if stale:
        IngestBatch.objects.filter(pk__in=stale).update(enqueued_at=timezone.now())
        enqueue_all(stale)
    return len(stale)


def batch_retry(batch: IngestBatch) -> None:
    """Give a failed batch another round of attempts."""
    IngestBatch.objects.filter(pk=batch.pk).update(
        status=IngestBatch.Status.PENDING, attempts=0, enqueued_at=timezone.now()
    )
    # Sent once the row says pending: a worker that took the task sooner would find the
    # batch still failed and do nothing (the sweeper would send it a minute later).
    transaction.on_commit(lambda: enqueue(batch.pk))
