"""The revenue rollups behind the revenue page: the weekly, monthly and per-agent ones
are the daily one summed, and the summary read from their mix is exactly what the
billing events add up to, for any range and filter.

T0 is 2026-11-20 09:00 UTC; the random book spans Aug 1 – Nov 20, 2026.
"""

import importlib
import random
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, date, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from billing.currencies import MINOR_UNITS
from billing.models import (
    RevenueAgentDaily,
    RevenueDaily,
    RevenueEvent,
    RevenueMonthly,
    RevenueWeekly,
)
from billing.selectors import RevenueFilters, revenue_summary
from billing.selectors.revenue import range_plan
from runs.ingest.revenue import agent_day_key
from runs.ingest.rollups import month_key, week_key, week_of
from tests.conftest import apply_now, ev

DAY = 86_400
FIRST, LAST = date(2026, 8, 1), date(2026, 11, 20)
SUMS = ("charges", "subscriptions", "refunds", "credits", "payouts", "events")
FIELD = {"charge": "charges", "subscription": "subscriptions", "refund": "refunds",
         "credit": "credits", "payout": "payouts"}  # fmt: skip
AGENTS = ("invoice-bot", "support-triage", "data-sync")


@pytest.fixture
def book(project):
    """400 billing events on random days, agents, customers (15 and none), currencies
    (JPY with no minor units, KWD with 3) and kinds, applied in random batches."""
    rng = random.Random(5)
    events = []
    for n in range(400):
        day = rng.randint(-(LAST - FIRST).days, 0)
        currency = rng.choice(["USD", "USD", "EUR", "JPY", "KWD"])
        events.append(
            ev("revenue", f"run{n % 9}", at=day * DAY + rng.randint(-9 * 3600, 14 * 3600),
               agent=rng.choice(AGENTS), kind=rng.choice(list(FIELD)),
               amount=str(Decimal(rng.randint(1, 10**8)).scaleb(-MINOR_UNITS[currency])),
               currency=currency, customer=rng.choice([f"c{i:02}" for i in range(15)] + [""]))
        )  # fmt: skip
    rng.shuffle(events)
    while events:
        size = rng.randint(1, 40)
        apply_now(project, events[:size])
        events = events[size:]


def rows_of(model, project, time_field: str, *keys: str) -> dict[tuple, tuple]:
    return {
        (getattr(row, time_field), *(getattr(row, k) for k in keys)): tuple(
            getattr(row, s) for s in SUMS
        )
        for row in model.objects.filter(project_id=project.id)
    }


def summed(daily: dict[tuple, tuple], key_of) -> dict[tuple, tuple]:
    totals: dict[tuple, list] = defaultdict(lambda: [0] * len(SUMS))
    for key, values in daily.items():
        totals[key_of(key)] = [a + b for a, b in zip(totals[key_of(key)], values, strict=True)]
    return {key: tuple(values) for key, values in totals.items()}


def test_weekly_monthly_and_per_agent_rollups_are_the_daily_one_summed(project, book):
    daily = rows_of(RevenueDaily, project, "day", "agent_name", "customer", "currency")

    weekly = rows_of(RevenueWeekly, project, "week", "agent_name", "customer", "currency")
    monthly = rows_of(RevenueMonthly, project, "month", "agent_name", "customer", "currency")
    per_agent = rows_of(RevenueAgentDaily, project, "day", "agent_name", "currency")

    assert weekly == summed(daily, week_key)
    assert monthly == summed(daily, month_key)
    assert per_agent == summed(daily, agent_day_key)
    assert len(monthly) < len(weekly) < len(daily)


def test_weeks_of_the_month_start_on_the_1st_8th_15th_22nd_and_29th():
    assert [week_of(date(2026, 10, d)).day for d in (1, 7, 8, 14, 15, 22, 28, 29, 31)] == [
        1, 1, 8, 8, 15, 22, 22, 29, 29,
    ]  # fmt: skip


def expected(project, filters: RevenueFilters, top: int) -> dict:
    """What the billing events themselves add up to, per currency: total, per agent
    and the top customers (by net, then name) with the count of the others."""

    def zeros() -> list:
        return [Decimal(0)] * 5 + [0]

    by_currency: dict = defaultdict(
        lambda: {"total": zeros(), "agents": defaultdict(zeros), "customers": defaultdict(zeros)}
    )
    for event in RevenueEvent.objects.filter(project=project):
        day = event.ts.astimezone(UTC).date()
        if (filters.since and day < filters.since) or (filters.until and day > filters.until):
            continue
        if filters.currency and event.currency != filters.currency:
            continue
        if filters.agent and event.agent_name != filters.agent:
            continue
        section = by_currency[event.currency]
        for sums in (section["total"], section["agents"][event.agent_name],
                     section["customers"][event.customer]):  # fmt: skip
            sums[SUMS.index(FIELD[event.kind])] += event.amount
            sums[5] += 1
    result = {}
    for currency, section in by_currency.items():
        ranked = sorted(section["customers"].items(), key=lambda item: (-_net(item[1]), item[0]))
        result[currency] = {
            "total": tuple(section["total"]),
            "agents": {name: tuple(sums) for name, sums in section["agents"].items()},
            "customers": [(name, tuple(sums)) for name, sums in ranked[:top]],
            "more_customers": max(0, len(ranked) - top),
        }
    return result


def _net(sums: list) -> Decimal:
    return sums[0] + sums[1] - sums[2] - sums[3]


def shown(project, filters: RevenueFilters) -> dict:
    def values(sums) -> tuple:
        return tuple(getattr(sums, name) for name in SUMS)

    return {
        section.currency: {
            "total": values(section.total),
            "agents": {a.name: values(a.sums) for a in section.agents if a.sums.events},
            "customers": [(c.name, values(c.sums)) for c in section.customers],
            "more_customers": section.more_customers,
        }
        for section in revenue_summary(project=project, filters=filters).sections
    }


def random_days(rng: random.Random) -> tuple[date | None, date | None]:
    def day() -> date:
        return FIRST + timedelta(days=rng.randint(-10, (LAST - FIRST).days + 10))

    since, until = rng.choice([day(), None]), rng.choice([day(), day(), None])
    if since and until and since > until:
        since, until = until, since
    return since, until


def test_the_summary_adds_up_to_the_events_for_any_range_and_filter(project, book, monkeypatch):
    monkeypatch.setattr("billing.selectors.revenue.TOP_CUSTOMERS", 6)
    rng = random.Random(9)
    checked = 0
    for _ in range(40):
        since, until = random_days(rng)
        filters = RevenueFilters(range="custom", since=since, until=until,
                                 currency=rng.choice(["", "", "USD", "EUR"]),
                                 agent=rng.choice(["", "", *AGENTS]))  # fmt: skip
        assert shown(project, filters) == expected(project, filters, top=6), filters
        checked += bool(range_plan(since, until).terms)
    assert checked > 20  # most ranges read weeks or days beside whole months


@pytest.mark.parametrize(
    ("since", "until"),
    [
        (date(2026, 9, 16), date(2026, 10, 15)),  # mid-month at both ends
        (date(2026, 10, 31), date(2026, 11, 1)),  # one day on each side of a month
        (date(2026, 9, 1), date(2026, 9, 30)),  # exactly one month
        (date(2026, 9, 2), date(2026, 9, 29)),  # a month less its first and last day
        (date(2026, 8, 29), None),
        (None, date(2026, 10, 7)),
    ],
)
def test_edges_of_months_are_exact(project, book, since, until):
    filters = RevenueFilters(range="custom", since=since, until=until)
    assert shown(project, filters) == expected(project, filters, top=20)


def test_a_customer_filter_reads_that_customers_days(project, book):
    filters = RevenueFilters(range="custom", since=date(2026, 9, 3), customer="c07")
    got = shown(project, filters)
    want = expected(project, replace(filters, customer=""), top=100)
    for currency, section in got.items():
        assert section["customers"] == [c for c in want[currency]["customers"] if c[0] == "c07"]
        assert section["total"] == section["customers"][0][1]


def expand(plan, first: date, last: date) -> dict[date, int]:
    """Each day's count in the rollup rows `plan` reads, limited to first..last."""
    counts: dict[date, int] = defaultdict(int)
    if plan.months is not None:
        low, high = plan.months
        day = first
        while day <= last:
            month = day.replace(day=1)
            counts[day] += (low is None or month >= low) and (high is None or month <= high)
            day += timedelta(days=1)
    for sign, grain, start in plan.terms:
        day = start
        while day.month == start.month and (
            grain == "month" or (grain == "week" and week_of(day) == start) or day == start
        ):
            counts[day] += sign
            day += timedelta(days=1)
    return {day: n for day, n in counts.items() if n and first <= day <= last}


def test_a_range_plan_counts_every_day_of_the_range_exactly_once():
    rng = random.Random(3)
    first, last = date(2023, 12, 1), date(2025, 3, 31)
    most = 0
    for _ in range(5000):
        since = rng.choice([None, first + timedelta(days=rng.randint(40, 400))])
        until = rng.choice([None, first + timedelta(days=rng.randint(40, 440))])
        if since and until and since > until:
            since, until = until, since
        plan = range_plan(since, until)
        days = (last - first).days + 1
        want = {
            d: 1
            for d in (first + timedelta(days=i) for i in range(days))
            if (since is None or d >= since) and (until is None or d <= until)
        }
        assert expand(plan, first, last) == want, (since, until, plan)
        most = max(most, len(plan.terms))
    assert most <= 14  # at most about 7 row sets at each end, whatever the days


def test_the_migration_backfill_builds_the_rollups_the_worker_keeps(project, book):
    tables = (
        (RevenueWeekly, "week", "agent_name", "customer", "currency"),
        (RevenueMonthly, "month", "agent_name", "customer", "currency"),
        (RevenueAgentDaily, "day", "agent_name", "currency"),
    )
    kept = [rows_of(model, project, *keys) for model, *keys in tables]
    for model, *_ in tables:
        model.objects.all().delete()

    backfill = importlib.import_module("billing.migrations.0004_revenue_rollups").BACKFILL
    with connection.cursor() as cursor:
        cursor.execute(backfill)

    assert [rows_of(model, project, *keys) for model, *keys in tables] == kept
