"""Celery tasks: thin wrappers; the work lives in runs.ingest.inbox and runs.maintenance."""

from celery import shared_task

from runs import maintenance
from runs.ingest import inbox as ingest


@shared_task(acks_late=True, reject_on_worker_lost=True)
def apply_batch(batch_id: int) -> None:
    ingest.batch_apply(batch_id)


@shared_task
def sweep_pending_batches() -> int:
    return ingest.batches_sweep()


@shared_task
def flag_stalled_runs() -> int:
    return maintenance.runs_flag_stalled()


@shared_task
def maintain_partitions() -> dict:
    return maintenance.partitions_maintain()
