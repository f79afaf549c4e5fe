"""Celery tasks: thin wrappers; the work lives in alerts.evaluation and alerts.deliveries."""

from celery import shared_task
from django.db import transaction

from alerts import deliveries, evaluation
from alerts.models import Delivery


@shared_task
def evaluate_alerts() -> dict:
    result = evaluation.alerts_evaluate()
    enqueue_deliveries(result.delivery_ids + deliveries.deliveries_due())
    return {"rules": result.rules, "opened": result.opened, "resolved": result.resolved}


@shared_task(bind=True, acks_late=True, max_retries=None)
def send_delivery(self, delivery_id: int) -> str:
    delivery = deliveries.delivery_send(delivery_id)
    if delivery is None or delivery.status != Delivery.Status.PENDING:
        return delivery.status if delivery else "skipped"
    raise self.retry(countdown=deliveries.backoff(delivery.attempts))


def enqueue_deliveries(ids: list[int]) -> None:
    """Send each delivery from a worker once the rows it reads are committed."""
    for delivery_id in ids:
        transaction.on_commit(lambda pk=delivery_id: send_delivery.delay(pk))
