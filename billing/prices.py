"""Model and tool prices from the database, as `billing.pricing.Price` and
`billing.tool_pricing.ToolRate` values."""

from collections.abc import Callable
from dataclasses import fields as dataclass_fields
from datetime import date
from decimal import Decimal
from functools import cache

from django.db import connection
from django.db.models import Q

from billing.models import ModelPrice, ToolPrice
from billing.pricing import DEFAULT_PRICES, Price, Usage, cost_of, find_price
from billing.tool_pricing import ToolPriceBook, ToolRate


def default_prices_create(model=ModelPrice) -> int:
    """Store the shipped prices when none are stored; `model` may be a migration's
    historical model. Returns how many rows were made."""
    if model.objects.filter(organization=None).exists():
        return 0
    rows = model.objects.bulk_create(
        model(
            organization=None,
            model_pattern=p.model_pattern,
            match=p.match,
            effective_from=p.effective_from,
            input_per_m=p.input_per_m,
            output_per_m=p.output_per_m,
            cache_read_per_m=p.cache_read_per_m,
            cache_write_per_m=p.cache_write_per_m,
            currency=p.currency,
        )
        for p in DEFAULT_PRICES
    )
    return len(rows)


_PRICE_FIELDS = [field.name for field in dataclass_fields(Price)]  # ModelPrice's names too


def prices_load(organization_id: int) -> tuple[list[Price], list[Price]]:
    """(the organization's own prices, the shipped defaults). Read for every batch, never
    cached: a batch applied just after a price edit must use the new price."""
    own, defaults = [], []
    with connection.cursor() as cursor:
        cursor.execute(_prices_query(), [organization_id])
        rows = cursor.fetchall()  # plain tuples: a model instance costs more
    for organization, *values in rows:
        (own if organization else defaults).append(Price(*values))
    return own, defaults


@cache
def _prices_query() -> str:
    """The ORM's SQL for an organization's prices and the defaults, built once: building
    it again for every batch cost more CPU than running it (1 ms of 1.5)."""
    query = (
        ModelPrice.objects.filter(Q(organization_id=0) | Q(organization__isnull=True))
        .values_list("organization_id", *_PRICE_FIELDS)
        .query
    )
    sql, params = query.sql_with_params()
    if params != (0,):  # the organization must be its one parameter
        raise RuntimeError(f"unexpected parameters in the price query: {params!r}")
    return sql


def price_for(prices: tuple[list[Price], list[Price]], model: str, at: date) -> Price | None:
    """The organization's own price for `model` on `at`, else the shipped default."""
    own, defaults = prices
    return find_price(own, model, at) or find_price(defaults, model, at)


# (model, day, token counts as Usage's fields) → (cost, price id), or None when unpriced.
Pricer = Callable[[str, date, dict[str, int]], tuple[Decimal, int] | None]


def usage_pricer(organization_id: int) -> Pricer:
    """What the ingest pipeline asks of billing, and all it asks: the cost of one usage
    report. Prices are read fresh for each batch; each (model, day) is looked up once,
    since a batch prices many calls of a few models on a day or two."""
    prices = prices_load(organization_id)
    price_of = cache(lambda model, day: price_for(prices, model, day))

    def price(model: str, day: date, tokens: dict[str, int]) -> tuple[Decimal, int] | None:
        found = price_of(model, day)
        return None if found is None else (cost_of(Usage(**tokens), found), found.id)

    return price


def tool_prices_load(organization_id: int) -> ToolPriceBook:
    """The organization's tool prices, read fresh for every page (priced at read time,
    so a price just added counts at once). One query."""
    rows = ToolPrice.objects.filter(organization_id=organization_id).order_by("tool", "id")
    return ToolPriceBook(
        ToolRate(
            id=row.id,
            tool=row.tool,
            unit_price=row.unit_price,
            currency=row.currency,
            effective_from=row.effective_from,
        )
        for row in rows
    )
