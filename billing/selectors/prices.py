"""Price table reads: an organization's rows, the shipped defaults, and the models
its calls used that nothing prices."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Max, Min, Q

from billing.models import ModelPrice
from runs.models import LlmCall
from studio.models import Organization, Project


@dataclass
class UnpricedModel:
    model: str
    calls: int
    first_seen: datetime
    last_seen: datetime


@dataclass
class PriceTable:
    own: list[ModelPrice]  # the organization's rows
    defaults: list[ModelPrice]  # the shipped defaults
    unpriced: list[UnpricedModel]  # models seen in calls that no row prices
    calls_by_price: dict[int, int] = field(default_factory=dict)  # own rows: calls they costed


def price_table(*, organization: Organization) -> PriceTable:
    """The organization's price rows, the shipped defaults, and the models its calls
    used that no row prices (with how many calls). Four queries."""
    rows = list(
        ModelPrice.objects.filter(Q(organization=organization) | Q(organization__isnull=True))
    )
    own = [r for r in rows if r.organization_id]
    projects = Project.objects.filter(organization=organization).values("id")
    unpriced = [
        UnpricedModel(**row)
        for row in LlmCall.objects.filter(
            project_id__in=projects, usage_at__isnull=False, cost__isnull=True
        )
        .values("model")
        .annotate(calls=Count("id"), first_seen=Min("usage_at"), last_seen=Max("usage_at"))
        .order_by("-calls", "model")
    ]
    calls_by_price = dict(
        LlmCall.objects.filter(price_id__in=[r.id for r in own], project_id__in=projects)
        .values_list("price_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return PriceTable(
        own=own,
        defaults=[r for r in rows if not r.organization_id],
        unpriced=unpriced,
        calls_by_price=calls_by_price,
    )


def price_get(*, organization: Organization, price_id: int) -> ModelPrice | None:
    """One of the organization's own price rows (never a default, never another org's)."""
    return ModelPrice.objects.filter(organization=organization, pk=price_id).first()
