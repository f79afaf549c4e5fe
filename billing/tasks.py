"""Celery tasks for billing: thin wrappers; the work lives in billing.services."""

from celery import shared_task

from billing import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def reprice_calls(organization_id: int | None, scope: dict) -> dict:
    """Re-price the calls a price change affects (see services.calls_reprice)."""
    result = services.calls_reprice(
        organization_id=organization_id, scope=services.RepriceScope.from_json(scope)
    )
    return {"calls_changed": result.calls_changed, "cost_delta": str(result.cost_delta)}
