"""Revenue events: stored once (by event_id and external_id), rolled up per day
(day × agent × customer × currency), and from the same sums per week of the month,
per month, and per day without the customer."""

import json
from collections import defaultdict
from decimal import Decimal

from runs.ingest.rollups import month_key, regroup, week_key
from runs.models import Run
from runs.protocol import Event
from studio.sql import bulk_cursor, upsert_add

# (day, agent, customer, currency) → {"charges": …, "events": …}: what new events add.
RevenueRollup = dict[tuple, dict[str, Decimal | int]]

# How each kind moves net revenue. Payouts are money paid out, shown apart from net.
NET_SIGN = {"charge": 1, "subscription": 1, "refund": -1, "credit": -1, "payout": 0}
_ROLLUP_FIELD = {
    "charge": "charges",
    "subscription": "subscriptions",
    "refund": "refunds",
    "credit": "credits",
    "payout": "payouts",
}


def revenue_apply(*, runs: list[tuple[Run, list[Event]]], rollup: RevenueRollup) -> None:
    """Store the new revenue events of a batch's runs in one statement, and add the ones
    not seen before to each run's net revenue and to `rollup`, for the caller to write
    once per batch with `revenue_rollups_write`."""
    pairs = [(run, event) for run, events in runs for event in events]
    if not pairs:
        return
    inserted = _insert(pairs)
    for run, event in pairs:
        if event.event_id not in inserted:
            continue
        data = event.data
        amount = Decimal(data["amount"])
        key = (event.ts.date(), _agent(run, event), data.get("customer") or "", data["currency"])
        sums = rollup.setdefault(key, defaultdict(int))
        sums[_ROLLUP_FIELD[data["kind"]]] += amount
        sums["events"] += 1
        if NET_SIGN[data["kind"]]:
            net = Decimal(run.revenue.get(data["currency"], "0"))
            run.revenue[data["currency"]] = str(net + NET_SIGN[data["kind"]] * amount)


def _agent(run: Run, event: Event) -> str:
    return event.agent_name or run.agent_name


def _insert(pairs: list[tuple[Run, Event]]) -> set[str]:
    """Insert, skipping any whose event_id or external_id is already stored (or comes
    earlier in `pairs`); the event ids that were new."""
    events = [event for _, event in pairs]
    with bulk_cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO billing_revenueevent (project_id, event_id, external_id, run_id,
                agent_name, kind, amount, currency, customer, refund_of, metadata, ts)
            SELECT %s, e.event_id, e.external_id, e.run_id, e.agent_name, e.kind, e.amount,
                e.currency, e.customer, e.refund_of, e.metadata::jsonb, e.ts
            FROM unnest(%b::text[], %b::text[], %b::bigint[], %b::text[], %b::text[],
                        %b::numeric[], %b::text[], %b::text[], %b::text[], %b::text[],
                        %b::timestamptz[])
              WITH ORDINALITY
              AS e(event_id, external_id, run_id, agent_name, kind, amount, currency,
                   customer, refund_of, metadata, ts, n)
            ORDER BY e.n
            ON CONFLICT DO NOTHING
            RETURNING event_id
            """,
            [
                pairs[0][0].project_id,
                [e.event_id for e in events],
                [e.data.get("external_id") for e in events],
                [run.pk for run, _ in pairs],
                [_agent(run, e) for run, e in pairs],
                [e.data["kind"] for e in events],
                [Decimal(e.data["amount"]) for e in events],
                [e.data["currency"] for e in events],
                [e.data.get("customer") or "" for e in events],
                [e.data.get("refund_of") or "" for e in events],
                [json.dumps(e.data.get("metadata") or {}) for e in events],
                [e.ts for e in events],
            ],
        )
        return {row[0] for row in cursor.fetchall()}


_SUMS = ("charges", "subscriptions", "refunds", "credits", "payouts", "events")


def revenue_rollups_write(*, project_id: int, daily: RevenueRollup) -> None:
    """Add what new events sum to per day × agent × customer × currency into
    `RevenueDaily`, and the same sums into `RevenueWeekly`, `RevenueMonthly` and
    `RevenueAgentDaily` (without the customer): the coarser tables stay exact sums of
    the daily one. Tables in one order, rows sorted by key, as every worker does."""
    keys = ("agent_name", "customer", "currency")
    _upsert("billing_revenuedaily", ("day", *keys), project_id, daily)
    _upsert("billing_revenueweekly", ("week", *keys), project_id, regroup(daily, week_key))
    _upsert("billing_revenuemonthly", ("month", *keys), project_id, regroup(daily, month_key))
    _upsert(
        "billing_revenueagentdaily",
        ("day", "agent_name", "currency"),
        project_id,
        regroup(daily, agent_day_key),
    )


def agent_day_key(key: tuple) -> tuple:
    """The per-agent key of a daily one: (day, agent, customer, currency) less the customer."""
    day, agent, _customer, currency = key
    return (day, agent, currency)


def _upsert(table: str, keys: tuple[str, ...], project_id: int, rollup: RevenueRollup) -> None:
    rows = [
        (project_id, *key, *(rollup[key].get(name, 0) for name in _SUMS)) for key in sorted(rollup)
    ]
    upsert_add(table, ("project_id", *keys), _SUMS, rows)
