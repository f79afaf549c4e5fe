"""Writes for billing: the price table, and re-pricing the calls a price change affects.

Re-pricing recomputes each affected LLM call from its stored usage with the current
price table, then moves its run's cost and unpriced-call count, and the hourly and
daily usage rollups, by the difference. It is idempotent (it compares with what is
stored, under the run's lock), so running it twice, or alongside the ingest workers,
is safe.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from fnmatch import fnmatchcase

from django.conf import settings
from django.db import IntegrityError, transaction

from billing.models import ModelPrice, ToolPrice
from billing.prices import price_for, prices_load
from billing.pricing import Price, Usage, cost_of, normalize_model
from billing.tool_pricing import ToolRate
from runs.ingest.rollups import daily_key, hour_of, regroup
from runs.models import TOKEN_COUNTS, USAGE_SUMS, LlmCall, Run, UsageHourly
from studio.celery import app as celery_app
from studio.models import Organization, Project
from studio.sql import upsert_add

log = logging.getLogger(__name__)

ZERO = Decimal(0)
RUNS_PER_CHUNK = 200  # runs locked per transaction while re-pricing
# A second pass this long after the first catches calls that an ingest worker was
# costing with the old table while the change committed (setting
# BILLING_REPRICE_SECOND_PASS_SECONDS overrides it).
SECOND_PASS_SECONDS = 120

PRICE_FIELDS = (
    "model_pattern", "match", "effective_from", "input_per_m", "output_per_m",
    "cache_read_per_m", "cache_write_per_m",
)  # fmt: skip


class PriceError(ValueError):
    """A price row that cannot be saved; the message says why, for the form."""


@dataclass(frozen=True)
class PriceData:
    """What a person enters for a price row (USD per 1M tokens)."""

    model_pattern: str
    match: str
    effective_from: date
    input_per_m: Decimal
    output_per_m: Decimal
    cache_read_per_m: Decimal = ZERO
    cache_write_per_m: Decimal = ZERO

    def check(self) -> None:
        """Raise PriceError unless this is a row `billing.pricing` can use."""
        try:
            Price(id=None, currency="USD", **{name: getattr(self, name) for name in PRICE_FIELDS})
        except (TypeError, ValueError) as error:
            raise PriceError(str(error)) from None


@dataclass(frozen=True)
class RepriceScope:
    """Which calls a price change can affect: those whose model matches one of the
    patterns (before or after the change) on a day from `since` on."""

    patterns: tuple[tuple[str, str], ...]  # (model_pattern, match)
    since: date

    def to_json(self) -> dict:
        return {"patterns": [list(p) for p in self.patterns], "since": self.since.isoformat()}

    @classmethod
    def from_json(cls, data: dict) -> RepriceScope:
        return cls(
            patterns=tuple((p, m) for p, m in data["patterns"]),
            since=date.fromisoformat(data["since"]),
        )

    def matches(self, model: str) -> bool:
        name = normalize_model(model)
        return bool(name) and any(_pattern_matches(p, m, name) for p, m in self.patterns)


def _pattern_matches(pattern: str, match: str, name: str) -> bool:
    pattern = normalize_model(pattern)
    if match == "exact":
        return name == pattern
    if match == "prefix":
        return name.startswith(pattern)
    return fnmatchcase(name, pattern)


# ── The price table ───────────────────────────────────────────────────────────────


def price_create(*, organization: Organization, data: PriceData) -> ModelPrice:
    """Add an organization's price row and re-price the calls it now covers."""
    data.check()
    with transaction.atomic():
        _refuse_duplicate(organization, data, exclude_id=None)
        price = ModelPrice.objects.create(
            organization=organization,
            currency="USD",
            **{name: getattr(data, name) for name in PRICE_FIELDS},
        )
        reprice_later(organization_id=organization.id, scope=scope_of(None, price))
    return price


def price_update(*, price: ModelPrice, data: PriceData) -> ModelPrice:
    """Change one of an organization's price rows and re-price the calls it covered or
    now covers. Shipped defaults are not edited here: add an own row instead."""
    if price.organization_id is None:
        raise PriceError("shipped default prices cannot be edited; add your own row instead")
    data.check()
    with transaction.atomic():
        locked = ModelPrice.objects.select_for_update().get(pk=price.pk)
        _refuse_duplicate(locked.organization, data, exclude_id=locked.pk)
        before = price_snapshot(locked)
        for name in PRICE_FIELDS:
            setattr(locked, name, getattr(data, name))
        locked.save(update_fields=list(PRICE_FIELDS))
        reprice_later(organization_id=locked.organization_id, scope=scope_of(before, locked))
    return locked


def _refuse_duplicate(organization: Organization, data: PriceData, exclude_id: int | None) -> None:
    same = ModelPrice.objects.filter(
        organization=organization,
        model_pattern__iexact=data.model_pattern.strip(),
        match=data.match,
        effective_from=data.effective_from,
    ).exclude(pk=exclude_id)
    if same.exists():
        raise PriceError(
            f"there is already a {data.match} row for {data.model_pattern.strip()} from "
            f"{data.effective_from.isoformat()}; edit that row instead"
        )


def scope_of(before: ModelPrice | None, after: ModelPrice | None) -> RepriceScope:
    """The calls a change from `before` to `after` (None: no row) can re-price: the
    old and the new pattern, from the earlier of the two effective dates."""
    rows = [r for r in (before, after) if r is not None]
    return RepriceScope(
        patterns=tuple(dict.fromkeys((r.model_pattern, r.match) for r in rows)),
        since=min(r.effective_from for r in rows),
    )


def price_changed(*, before: ModelPrice | None, after: ModelPrice | None) -> None:
    """Re-price after a row was saved or deleted elsewhere (the Django admin). A shipped
    default (no organization) re-prices every organization."""
    row = after or before
    if row is None:
        return
    reprice_later(organization_id=row.organization_id, scope=scope_of(before, after))


def price_snapshot(price: ModelPrice | None) -> ModelPrice | None:
    """A detached copy of a row as stored, to compare with after a change."""
    if price is None:
        return None
    return ModelPrice(pk=price.pk, organization_id=price.organization_id, currency=price.currency,
                      **{name: getattr(price, name) for name in PRICE_FIELDS})  # fmt: skip


REPRICE_TASK = "billing.tasks.reprice_calls"


def reprice_later(*, organization_id: int | None, scope: RepriceScope) -> None:
    """Queue re-pricing once the current transaction commits, plus a second pass."""
    args = (organization_id, scope.to_json())

    delay = getattr(settings, "BILLING_REPRICE_SECOND_PASS_SECONDS", SECOND_PASS_SECONDS)

    def enqueue() -> None:
        # Sent by name: the task module imports this one, not the other way round.
        celery_app.send_task(REPRICE_TASK, args)
        celery_app.send_task(REPRICE_TASK, args, countdown=delay)

    transaction.on_commit(enqueue)


# ── Tool prices ───────────────────────────────────────────────────────────────────
# Tool uses are priced when read, so these writes re-price nothing.


@dataclass(frozen=True)
class ToolPriceData:
    """What a person enters for a tool price row: per use, in `currency`."""

    tool: str
    unit_price: Decimal
    currency: str
    effective_from: date

    def check(self) -> None:
        """Raise PriceError unless this is a row `billing.tool_pricing` can use."""
        try:
            ToolRate(tool=self.tool, unit_price=self.unit_price, currency=self.currency,
                     effective_from=self.effective_from)  # fmt: skip
        except (TypeError, ValueError) as error:
            raise PriceError(str(error)) from None


def tool_price_create(*, organization: Organization, data: ToolPriceData) -> ToolPrice:
    """Add an organization's price for a tool from a day on. One row per tool and day:
    a second one is refused (delete the first to change it)."""
    data.check()
    duplicate = PriceError(
        f"there is already a price for {data.tool} from {data.effective_from.isoformat()}; "
        "delete that row first, or pick another day"
    )
    if ToolPrice.objects.filter(
        organization=organization, tool=data.tool, effective_from=data.effective_from
    ).exists():
        raise duplicate
    try:
        with transaction.atomic():
            return ToolPrice.objects.create(
                organization=organization,
                tool=data.tool,
                unit_price=data.unit_price,
                currency=data.currency,
                effective_from=data.effective_from,
            )
    except IntegrityError:  # the same row saved at the same moment by someone else
        raise duplicate from None


def tool_price_delete(*, organization: Organization, price_id: int) -> ToolPrice | None:
    """Delete one of the organization's tool price rows; None if it has no such row
    (another organization's row is never touched)."""
    price = ToolPrice.objects.filter(organization=organization, pk=price_id).first()
    if price is not None:
        price.delete()
    return price


# ── Re-pricing ────────────────────────────────────────────────────────────────────


@dataclass
class RepriceResult:
    calls_checked: int = 0
    calls_changed: int = 0
    runs_changed: int = 0
    cost_delta: Decimal = ZERO  # new total cost − old, USD
    unpriced_delta: int = 0
    models: list[str] = field(default_factory=list)


def calls_reprice(*, organization_id: int | None, scope: RepriceScope) -> RepriceResult:
    """Recompute the cost of the calls `scope` covers, in one organization (or in all,
    for a change to a shipped default), and move run totals and rollups by the
    difference. Runs are locked in id order, in chunks, like the ingest workers do."""
    if organization_id is None:
        result = RepriceResult()
        for org_id in Organization.objects.order_by("id").values_list("id", flat=True):
            _merge(result, calls_reprice(organization_id=org_id, scope=scope))
        return result
    result = RepriceResult()
    project_ids = list(
        Project.objects.filter(organization_id=organization_id).values_list("id", flat=True)
    )
    if not project_ids:
        return result
    since = datetime.combine(scope.since, time.min, tzinfo=UTC)
    # The models used since then, from the hourly rollup (indexed by project and hour)
    # rather than from every call.
    seen = (
        UsageHourly.objects.filter(project_id__in=project_ids, hour__gte=since)
        .exclude(model="")
        .values_list("model", flat=True)
        .distinct()
    )
    result.models = sorted(m for m in seen if scope.matches(m))
    if not result.models:
        return result
    prices = prices_load(organization_id)
    affected = LlmCall.objects.filter(
        project_id__in=project_ids, usage_at__gte=since, model__in=result.models
    )
    run_ids = list(affected.order_by("run_id").values_list("run_id", flat=True).distinct())
    for start in range(0, len(run_ids), RUNS_PER_CHUNK):
        _reprice_runs(run_ids[start : start + RUNS_PER_CHUNK], affected, prices, result)
    log.info("re-priced organization %s: %s", organization_id, result)
    return result


def _reprice_runs(run_ids: list[int], affected, prices, result: RepriceResult) -> None:
    """Re-price the affected calls of these runs in one transaction, under the runs' locks."""
    with transaction.atomic():
        locked = Run.objects.select_for_update().filter(pk__in=run_ids).order_by("id")
        runs = {run.pk: run for run in locked}
        calls = list(affected.filter(run_id__in=list(runs)).order_by("id"))  # read under the locks
        changed_calls: list[LlmCall] = []
        changed_runs: dict[int, Run] = {}
        rollup: dict[tuple, dict[str, Decimal | int]] = defaultdict(
            lambda: {"cost": ZERO, "unpriced_calls": 0}
        )
        for call in calls:
            result.calls_checked += 1
            price = price_for(prices, call.model, call.usage_at.astimezone(UTC).date())
            cost = cost_of(_usage_of(call), price) if price else None
            price_id = price.id if price else None
            if cost == call.cost and price_id == call.price_id:
                continue
            cost_delta = (cost or ZERO) - (call.cost or ZERO)
            unpriced_delta = int(cost is None) - int(call.cost is None)
            call.cost, call.price_id = cost, price_id
            changed_calls.append(call)
            run = runs[call.run_id]
            run.cost += cost_delta
            run.unpriced_calls = max(0, run.unpriced_calls + unpriced_delta)
            changed_runs[run.pk] = run
            key = (run.project_id, hour_of(call.usage_at), run.agent_name, call.model,
                   run.environment)  # fmt: skip
            rollup[key]["cost"] += cost_delta
            rollup[key]["unpriced_calls"] += unpriced_delta
            result.cost_delta += cost_delta
            result.unpriced_delta += unpriced_delta
        LlmCall.objects.bulk_update(changed_calls, ["cost", "price"])
        Run.objects.bulk_update(list(changed_runs.values()), ["cost", "unpriced_calls"])
        _rollup_add(
            [
                (*key, sums["cost"], sums["unpriced_calls"])
                for key, sums in rollup.items()
                if sums["cost"] or sums["unpriced_calls"]
            ]
        )
        result.calls_changed += len(changed_calls)
        result.runs_changed += len(changed_runs)


# A re-price changes only cost and unpriced calls; the other sums are added as zero.
_ROLLUP_ZEROS = tuple(name for name in USAGE_SUMS if name not in ("cost", "unpriced_calls"))


def _rollup_add(rows: list[tuple]) -> None:
    """Add (project_id, hour, agent, model, environment, cost, unpriced_calls) into the
    hourly rollup, and the same per day into the daily one, as the ingest workers do
    (hourly first, rows sorted). A key a rollup does not have yet gets a row with zero
    counts (the tables have no column defaults)."""
    hourly = {row[:5]: {"cost": row[5], "unpriced_calls": row[6]} for row in rows}
    daily = regroup(hourly, lambda key: (key[0], *daily_key(key[1:])))
    for table, time_column, delta in (
        ("runs_usagehourly", "hour", hourly),
        ("runs_usagedaily", "day", daily),
    ):
        upsert_add(
            table,
            ("project_id", time_column, "agent_name", "model", "environment"),
            (*_ROLLUP_ZEROS, "cost", "unpriced_calls"),
            [
                (*key, *(0 for _ in _ROLLUP_ZEROS), sums["cost"], sums["unpriced_calls"])
                for key, sums in sorted(delta.items())
            ],
        )


def _usage_of(call: LlmCall) -> Usage:
    return Usage(**{name: int(getattr(call, name)) for name in TOKEN_COUNTS})


def _merge(total: RepriceResult, part: RepriceResult) -> None:
    total.calls_checked += part.calls_checked
    total.calls_changed += part.calls_changed
    total.runs_changed += part.runs_changed
    total.cost_delta += part.cost_delta
    total.unpriced_delta += part.unpriced_delta
    total.models = sorted(set(total.models) | set(part.models))


__all__ = [
    "PriceData",
    "PriceError",
    "RepriceResult",
    "RepriceScope",
    "ToolPriceData",
    "calls_reprice",
    "price_changed",
    "price_create",
    "price_snapshot",
    "price_update",
    "reprice_later",
    "scope_of",
    "tool_price_create",
    "tool_price_delete",
]
