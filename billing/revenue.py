"""Revenue events: stored once (by event_id and external_id), rolled up per day."""

import json
from collections import defaultdict
from decimal import Decimal

from runs.models import Run
from runs.protocol import Event
from studio.sql import bulk_cursor, upsert_add

# How each kind moves net revenue. Payouts are money paid out, shown apart from net.
NET_SIGN = {"charge": 1, "subscription": 1, "refund": -1, "credit": -1, "payout": 0}
_ROLLUP_FIELD = {
    "charge": "charges",
    "subscription": "subscriptions",
    "refund": "refunds",
    "credit": "credits",
    "payout": "payouts",
}


def revenue_apply(*, run: Run, events: list[Event]) -> None:
    """Store new revenue events of a run; add the ones not seen before to the rollups."""
    if not events:
        return
    new = _insert(run, events)
    if not new:
        return
    daily: dict[tuple, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for event in new:
        data = event.data
        amount = Decimal(data["amount"])
        key = (event.ts.date(), _agent(run, event), data.get("customer") or "", data["currency"])
        daily[key][_ROLLUP_FIELD[data["kind"]]] += amount
        daily[key]["events"] += 1
        if NET_SIGN[data["kind"]]:
            net = Decimal(run.revenue.get(data["currency"], "0"))
            run.revenue[data["currency"]] = str(net + NET_SIGN[data["kind"]] * amount)
    _upsert_daily(run.project_id, daily)


def _agent(run: Run, event: Event) -> str:
    return event.agent_name or run.agent_name


def _insert(run: Run, events: list[Event]) -> list[Event]:
    """Insert, skipping any whose event_id or external_id is already stored."""
    with bulk_cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO billing_revenueevent (project_id, event_id, external_id, run_id,
                agent_name, kind, amount, currency, customer, refund_of, metadata, ts)
            SELECT %s, e.event_id, e.external_id, %s, e.agent_name, e.kind, e.amount,
                e.currency, e.customer, e.refund_of, e.metadata::jsonb, e.ts
            FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::numeric[],
                        %b::text[], %b::text[], %b::text[], %b::text[], %b::timestamptz[])
              AS e(event_id, external_id, agent_name, kind, amount, currency, customer,
                   refund_of, metadata, ts)
            ON CONFLICT DO NOTHING
            RETURNING event_id
            """,
            [
                run.project_id,
                run.pk,
                [e.event_id for e in events],
                [e.data.get("external_id") for e in events],
                [_agent(run, e) for e in events],
                [e.data["kind"] for e in events],
                [Decimal(e.data["amount"]) for e in events],
                [e.data["currency"] for e in events],
                [e.data.get("customer") or "" for e in events],
                [e.data.get("refund_of") or "" for e in events],
                [json.dumps(e.data.get("metadata") or {}) for e in events],
                [e.ts for e in events],
            ],
        )
        inserted = {row[0] for row in cursor.fetchall()}
    return [e for e in events if e.event_id in inserted]


_SUMS = ("charges", "subscriptions", "refunds", "credits", "payouts", "events")


def _upsert_daily(project_id: int, daily: dict[tuple, dict[str, Decimal]]) -> None:
    rows = [(project_id, *key, *(daily[key][name] for name in _SUMS)) for key in sorted(daily)]
    upsert_add(
        "billing_revenuedaily",
        ("project_id", "day", "agent_name", "customer", "currency"),
        _SUMS,
        rows,
    )
