"""Revenue reads: per-currency summaries from the revenue rollups, model cost from
`UsageDaily` and tool cost from `ToolUsageDaily` for the margin, and the billing event
list and export from `RevenueEvent`.
Money stays Decimal here; only `billing.charts` makes floats, for plotting.

The rollups are exact sums of one another, so each read takes the smallest that
answers it: `RevenueAgentDaily` (day × agent × currency) for the time series and the
agents; for the customer table, `RevenueMonthly` (month × agent × customer × currency)
for the whole months of the range and a mix of `RevenueWeekly` and `RevenueDaily` for
the months at its edges (`range_plan`); `RevenueDaily` alone when the page is filtered
to one customer."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, F, Model, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber, Trunc
from django.utils import timezone

from billing.models import RevenueAgentDaily, RevenueDaily, RevenueEvent
from billing.selectors.tools import tool_cost_by_agent
from billing.tool_pricing import ToolCost
from runs.models import UsageDaily
from studio.models import Project

ZERO = Decimal(0)


REVENUE_KINDS = ("charge", "subscription", "refund", "credit", "payout")
REVENUE_RANGES: dict[str, int | None] = {"7d": 7, "30d": 30, "90d": 90, "12m": 365, "all": None}
PERIODS = ("day", "week", "month")
TOP_CUSTOMERS = 20
MAX_EVENT_PAGE = 200


class FilterError(ValueError):
    """A filter value that cannot be used; the message names the parameter."""


@dataclass(frozen=True)
class RevenueFilters:
    """What the revenue page and its CSV export show. `since`/`until` are UTC days,
    both included. `kind` and `charge` narrow the event list only (the rollups behind
    the summary are per day, agent, customer and currency, not per event)."""

    range: str = "30d"
    since: date | None = None
    until: date | None = None
    currency: str = ""
    agent: str = ""
    customer: str = ""
    kind: str = ""
    charge: str = ""  # an external id: that charge and the refunds pointing to it
    period: str = "day"

    @classmethod
    def from_params(cls, params: Mapping[str, str], *, today: date | None = None) -> RevenueFilters:
        """Parse query parameters, raising FilterError on a value that cannot be used.

        Explicit `from`/`to` days win over `range` (7d, 30d, 90d, 12m, all)."""
        today = today or timezone.now().date()
        range_ = params.get("range") or cls.range
        if range_ not in (*REVENUE_RANGES, "custom"):
            raise FilterError(f"range: use one of {', '.join(REVENUE_RANGES)}; got {range_!r}")
        since, until = _day_param(params, "from"), _day_param(params, "to")
        if since or until:
            range_ = "custom"
        elif range_ != "custom" and REVENUE_RANGES[range_] is not None:
            since = today - timedelta(days=REVENUE_RANGES[range_] - 1)
        if since and until and since > until:
            raise FilterError("from: the first day must not be after the last day")
        kind = (params.get("kind") or "").strip()
        if kind and kind not in REVENUE_KINDS:
            raise FilterError(f"kind: use one of {', '.join(REVENUE_KINDS)}; got {kind!r}")
        period = params.get("period") or cls.period
        if period not in PERIODS:
            raise FilterError(f"period: use one of {', '.join(PERIODS)}; got {period!r}")
        currency = (params.get("currency") or "").strip().upper()
        if currency and (len(currency) != 3 or not currency.isalpha()):
            raise FilterError(f"currency: a 3-letter code like USD; got {currency!r}")
        return cls(
            range=range_,
            since=since,
            until=until,
            currency=currency,
            agent=(params.get("agent") or "").strip()[:200],
            customer=(params.get("customer") or "").strip()[:200],
            kind=kind,
            charge=(params.get("charge") or "").strip()[:200],
            period=period,
        )

    def as_params(self, **changes: str) -> dict[str, str]:
        """The query parameters that give these filters back, defaults left out;
        `changes` replace some (an empty value removes one)."""
        custom = self.range == "custom"
        values = {
            "range": "" if custom or self.range == RevenueFilters.range else self.range,
            "from": self.since.isoformat() if custom and self.since else "",
            "to": self.until.isoformat() if custom and self.until else "",
            "currency": self.currency,
            "agent": self.agent,
            "customer": self.customer,
            "kind": self.kind,
            "charge": self.charge,
            "period": "" if self.period == RevenueFilters.period else self.period,
        }
        values.update(changes)
        return {k: v for k, v in values.items() if v}


def _day_param(params: Mapping[str, str], name: str) -> date | None:
    value = (params.get(name) or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FilterError(f"{name}: expected a day like 2026-11-25; got {value!r}") from None


@dataclass
class Sums:
    """Money of one slice, in one currency. net = charges + subscriptions − refunds − credits."""

    charges: Decimal = ZERO
    subscriptions: Decimal = ZERO
    refunds: Decimal = ZERO
    credits: Decimal = ZERO
    payouts: Decimal = ZERO
    events: int = 0

    @property
    def gross(self) -> Decimal:
        return self.charges + self.subscriptions

    @property
    def net(self) -> Decimal:
        return self.charges + self.subscriptions - self.refunds - self.credits

    @property
    def refunds_and_credits(self) -> Decimal:
        return self.refunds + self.credits

    def add(self, row: Mapping) -> None:
        for name in _MONEY_SUMS:
            setattr(self, name, getattr(self, name) + row[name])
        self.events += row["events"]


_MONEY_SUMS = ("charges", "subscriptions", "refunds", "credits", "payouts")


@dataclass
class PeriodRow:
    start: date
    sums: Sums


@dataclass
class AgentRow:
    name: str
    sums: Sums
    cost: Decimal | None = None  # model cost in USD; only set in the USD section
    unpriced_calls: int = 0
    # Tool uses and their cost, per currency; only set in the USD section.
    tools: ToolCost | None = None

    @property
    def tool_cost(self) -> Decimal | None:
        """The USD part of the tool cost: what the USD margin subtracts."""
        return None if self.tools is None else self.tools.cost_in("USD")

    @property
    def margin(self) -> Decimal | None:
        """net − model cost − tool cost (USD); tool cost in other currencies is not in it."""
        if self.cost is None:
            return None
        return self.sums.net - self.cost - (self.tool_cost or ZERO)


@dataclass
class CustomerRow:
    name: str
    sums: Sums


@dataclass
class CurrencySection:
    """Everything about one currency. Amounts of different currencies are never added."""

    currency: str
    total: Sums
    periods: list[PeriodRow]
    agents: list[AgentRow]
    customers: list[CustomerRow]  # the top ones by net
    more_customers: int  # how many customers are not listed
    cost: Decimal | None = None  # model cost (USD) over the same days and agents
    unpriced_calls: int = 0
    tools: ToolCost | None = None  # tool uses and cost over the same days and agents

    @property
    def has_margin(self) -> bool:
        return self.cost is not None

    @property
    def tool_cost(self) -> Decimal | None:
        return None if self.tools is None else self.tools.cost_in("USD")

    @property
    def margin(self) -> Decimal | None:
        """net − model cost − tool cost, in USD."""
        if self.cost is None:
            return None
        return self.total.net - self.cost - (self.tool_cost or ZERO)


@dataclass
class RevenueSummary:
    filters: RevenueFilters
    sections: list[CurrencySection]  # by currency code
    currencies: list[str]  # every currency the project has (for the filter)
    agents: list[str]  # every agent with revenue (for the filter)


def revenue_summary(*, project: Project, filters: RevenueFilters) -> RevenueSummary:
    """Gross, refunds, credits and net per currency: by period, agent and top customers,
    with model cost, tool cost and margin per agent in the USD section. Reads the
    revenue rollups, `UsageDaily`, `ToolUsageDaily` and the tool prices only: at most
    six queries whatever the number of billing events."""
    # Without a customer filter, the rollup without customers has every sum needed.
    model = RevenueDaily if filters.customer else RevenueAgentDaily
    period = F("day") if filters.period == "day" else Trunc("day", filters.period)
    by_period = (
        _rollup(model, project, filters)
        .annotate(start=period)
        .values("currency", "start")
        .annotate(**_money_sums())
        .order_by("currency", "start")
    )
    by_customer = (
        _one_customer(project, filters) if filters.customer else _top_customers(project, filters)
    )
    # Without the currency and agent filters, so the same rows also list the choices.
    by_agent = list(
        _rollup(model, project, replace(filters, currency="", agent=""))
        .values("currency", "agent_name")
        .annotate(**_money_sums())
        .order_by()
    )

    sections: dict[str, CurrencySection] = {}
    for row in by_period:
        section = sections.setdefault(row["currency"], _section(row["currency"]))
        sums = Sums()
        sums.add(row)
        section.total.add(row)
        section.periods.append(PeriodRow(start=_as_date(row["start"]), sums=sums))
    for row in by_agent:
        if row["currency"] not in sections or filters.agent not in ("", row["agent_name"]):
            continue
        sums = Sums()
        sums.add(row)
        sections[row["currency"]].agents.append(AgentRow(name=row["agent_name"], sums=sums))
    for row in by_customer:
        sums = Sums()
        sums.add(row)
        section = sections[row["currency"]]
        section.customers.append(CustomerRow(name=row["customer"], sums=sums))
        section.more_customers = row["customers"] - len(section.customers)
    for section in sections.values():
        section.agents.sort(key=lambda r: (-r.sums.net, r.name))
    if "USD" in sections:
        _add_model_cost(project, filters, sections["USD"])
        _add_tool_cost(project, filters, sections["USD"])
    return RevenueSummary(
        filters=filters,
        sections=[sections[c] for c in sorted(sections)],
        currencies=sorted({row["currency"] for row in by_agent} | {filters.currency} - {""}),
        agents=sorted({row["agent_name"] for row in by_agent} | {filters.agent} - {""}),
    )


def filled_periods(
    periods: list[PeriodRow], *, filters: RevenueFilters, today: date
) -> list[PeriodRow]:
    """`periods` with the empty days (weeks, months) of the range put back as zeros,
    for a chart whose line must not jump over a quiet day."""
    if not periods:
        return []
    first = _period_start(filters.since, filters.period) if filters.since else periods[0].start
    last = max(_period_start(filters.until or today, filters.period), periods[-1].start)
    known = {row.start: row for row in periods}
    filled, at = [], min(first, periods[0].start)
    while at <= last:
        filled.append(known.get(at) or PeriodRow(start=at, sums=Sums()))
        at = _next_period(at, filters.period)
    return filled


def _period_start(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def _next_period(start: date, period: str) -> date:
    if period == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=7 if period == "week" else 1)


def _section(currency: str) -> CurrencySection:
    return CurrencySection(
        currency=currency, total=Sums(), periods=[], agents=[], customers=[], more_customers=0
    )


def _rollup(model: type[Model], project: Project, filters: RevenueFilters) -> QuerySet:
    """The rows of a daily revenue rollup that the filters select."""
    rows = model.objects.filter(project_id=project.id)
    if filters.since:
        rows = rows.filter(day__gte=filters.since)
    if filters.until:
        rows = rows.filter(day__lte=filters.until)
    if filters.currency:
        rows = rows.filter(currency=filters.currency)
    if filters.agent:
        rows = rows.filter(agent_name=filters.agent)
    if filters.customer:
        rows = rows.filter(customer=filters.customer)
    return rows


def _money_sums() -> dict:
    return {name: Sum(name) for name in (*_MONEY_SUMS, "events")}


def _one_customer(project: Project, filters: RevenueFilters) -> QuerySet:
    """The customer table when filtered to one customer: its own days (indexed)."""
    net = F("charges") + F("subscriptions") - F("refunds") - F("credits")
    return (
        _rollup(RevenueDaily, project, filters)
        .values("currency", "customer")
        .annotate(**_money_sums())
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[F("currency")], order_by=[net.desc(), F("customer")]
            ),
            customers=Window(Count("*"), partition_by=[F("currency")]),
        )
        .filter(rank__lte=TOP_CUSTOMERS)
        .order_by("currency", "rank")
    )


Grain = str  # "month", "week" (of the month: from the 1st, 8th, 15th, 22nd, 29th) or "day"
Term = tuple[int, Grain, date]  # (+1 or -1, grain, first day): one rollup row set


@dataclass(frozen=True)
class RangePlan:
    """Rollup rows that add up to exactly the days of a range: every month from
    `months[0]` to `months[1]` (first days; None = unbounded; `months` None = none),
    plus or minus each of `terms`."""

    months: tuple[date | None, date | None] | None
    terms: tuple[Term, ...] = ()


def range_plan(since: date | None, until: date | None) -> RangePlan:
    """The fewest rollup row sets that add up to exactly since..until (None =
    unbounded): the whole months inside from `RevenueMonthly`, and each month the range
    covers in part as the cheapest exact mix of its weeks and days, added or taken
    away (e.g. Oct 16–31 = the weeks from Oct 15, 22 and 29, less Oct 15; Sep 2–29 =
    September less Sep 1 and Sep 30). At most about 7 row sets per partial month,
    where its days alone could be 30."""
    first = None if since is None else _period_start(since, "month")
    last = None if until is None else _period_start(until, "month")
    terms: list[Term] = []
    partial: set[date] = set()
    for month in dict.fromkeys(m for m in (first, last) if m is not None):
        low = max(since, month) if since else month
        high = min(until, _node_end("month", month)) if until else _node_end("month", month)
        if (low, high) != (month, _node_end("month", month)):
            terms += _cover("month", month, low, high)
            partial.add(month)
    if first in partial:
        first = _next_period(first, "month")
    if last in partial:
        last = (last - _ONE_DAY).replace(day=1)
    empty = first is not None and last is not None and first > last
    return RangePlan(months=None if empty else (first, last), terms=tuple(terms))


_ONE_DAY = timedelta(days=1)
_CHILD = {"month": "week", "week": "day"}


def _node_end(grain: Grain, start: date) -> date:
    month_end = _next_period(start.replace(day=1), "month") - _ONE_DAY
    if grain == "month":
        return month_end
    if grain == "week":
        return min(start + timedelta(days=6), month_end)
    return start


def _children(grain: Grain, start: date) -> list[date]:
    end = _node_end(grain, start)
    step = timedelta(days=7 if grain == "month" else 1)
    starts, at = [], start
    while at <= end:
        starts.append(at)
        at += step
    return starts


def _cover(grain: Grain, start: date, low: date, high: date) -> list[Term]:
    """The fewest terms whose days add up to low..high, inside one month or week:
    the whole row set if it is all of it, else the cheaper of its parts' covers
    (inside) or the whole less the covers of what lies outside."""
    end = _node_end(grain, start)
    if (low, high) == (start, end):
        return [(1, grain, start)]
    child = _CHILD[grain]
    inside: list[Term] = []
    outside: list[Term] = [(1, grain, start)]
    for child_start in _children(grain, start):
        child_end = _node_end(child, child_start)
        if max(low, child_start) <= min(high, child_end):
            inside += _cover(child, child_start, max(low, child_start), min(high, child_end))
        for a, b in ((child_start, min(child_end, low - _ONE_DAY)),
                     (max(child_start, high + _ONE_DAY), child_end)):  # fmt: skip
            if a <= b:
                outside += [(-sign, g, s) for sign, g, s in _cover(child, child_start, a, b)]
    return outside if len(outside) < len(inside) else inside


def _top_customers(project: Project, filters: RevenueFilters) -> list[dict]:
    """The top customers of each currency by net, with their count, ranked in the
    database (a project can have thousands of customers and only TOP_CUSTOMERS are
    shown), from the month, week and day rollups that `range_plan` picks. A customer
    is counted when it has events in the range, as in `RevenueDaily` (whose every row
    has at least one event). One query."""
    plan = range_plan(filters.since, filters.until)
    where, where_params = ["project_id = %s"], [project.id]
    if filters.currency:
        where.append("currency = %s")
        where_params.append(filters.currency)
    if filters.agent:
        where.append("agent_name = %s")
        where_params.append(filters.agent)
    parts, params = [], []

    def part(table: str, sign: int, condition: str, condition_params: list) -> None:
        columns = _SUM_COLUMNS if sign > 0 else _NEGATED_SUMS
        parts.append(
            f"SELECT currency, customer, {columns} FROM {table} "
            f"WHERE {' AND '.join(where)} AND ({condition})"
        )
        params.extend([*where_params, *condition_params])

    if plan.months is not None:
        bounds = [
            (f"month {op} %s", bound)
            for op, bound in zip((">=", "<="), plan.months, strict=True)
            if bound is not None
        ]
        part(
            "billing_revenuemonthly",
            1,
            " AND ".join(sql for sql, _ in bounds) or "TRUE",
            [bound for _, bound in bounds],
        )
    for grain, table in _GRAIN_TABLES.items():
        for sign in (1, -1):
            starts = sorted(s for sg, g, s in plan.terms if (sg, g) == (sign, grain))
            if starts:
                part(table, sign, f"{grain} = ANY(%s)", [starts])
    sums = ", ".join(f"sum({name}) AS {name}" for name in (*_MONEY_SUMS, "events"))
    sql = f"""
        SELECT currency, customer, {_SUM_COLUMNS}, customers FROM (
            SELECT currency, customer, {sums},
                row_number() OVER (
                    PARTITION BY currency
                    ORDER BY sum(charges) + sum(subscriptions) - sum(refunds) - sum(credits)
                        DESC, customer
                ) AS rank,
                count(*) OVER (PARTITION BY currency) AS customers
            FROM ({" UNION ALL ".join(parts)}) AS r
            GROUP BY currency, customer
            HAVING sum(events) <> 0
        ) AS ranked
        WHERE rank <= %s
        ORDER BY currency, rank
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, TOP_CUSTOMERS])
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


_GRAIN_TABLES = {
    "month": "billing_revenuemonthly", "week": "billing_revenueweekly",
    "day": "billing_revenuedaily",
}  # fmt: skip
_SUM_COLUMNS = "charges, subscriptions, refunds, credits, payouts, events"
_NEGATED_SUMS = ", ".join(f"-{name} AS {name}" for name in _SUM_COLUMNS.split(", "))


def _add_model_cost(project: Project, filters: RevenueFilters, section: CurrencySection) -> None:
    """Model cost per agent over the same days (USD: prices are kept in USD).

    A customer filter cannot narrow cost (usage is not per customer), so cost and margin
    are left out then rather than shown against the wrong revenue."""
    if filters.customer:
        return
    usage = UsageDaily.objects.filter(project_id=project.id).exclude(model="")
    if filters.since:
        usage = usage.filter(day__gte=filters.since)
    if filters.until:
        usage = usage.filter(day__lte=filters.until)
    if filters.agent:
        usage = usage.filter(agent_name=filters.agent)
    costs = {
        row["agent_name"]: row
        for row in usage.values("agent_name")
        .annotate(cost=Sum("cost"), unpriced=Sum("unpriced_calls"))
        .order_by()
    }
    section.cost = ZERO
    for agent in section.agents:
        row = costs.pop(agent.name, None)
        agent.cost = row["cost"] if row else ZERO
        agent.unpriced_calls = row["unpriced"] if row else 0
    for name, row in sorted(costs.items()):  # agents that cost money but earned none
        agent = AgentRow(name=name, sums=Sums(), cost=row["cost"], unpriced_calls=row["unpriced"])
        section.agents.append(agent)
    for agent in section.agents:
        section.cost += agent.cost
        section.unpriced_calls += agent.unpriced_calls


def _add_tool_cost(project: Project, filters: RevenueFilters, section: CurrencySection) -> None:
    """Tool cost per agent over the same days, priced at read time. The margin takes
    its USD part; a tool priced in another currency is shown, never converted. Left out
    with a customer filter, as model cost is (tool uses are not per customer)."""
    if filters.customer:
        return
    costs = tool_cost_by_agent(
        project=project, since=filters.since, until=filters.until, agent=filters.agent
    )
    section.tools = ToolCost()
    for agent in section.agents:
        agent.tools = costs.pop(agent.name, ToolCost())
    for name, cost in sorted(costs.items()):  # agents with tool uses but no revenue or calls
        section.agents.append(AgentRow(name=name, sums=Sums(), cost=ZERO, tools=cost))
    for agent in section.agents:
        section.tools.merge(agent.tools)


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


# ── Billing events ────────────────────────────────────────────────────────────────


@dataclass
class EventPage:
    events: list[RevenueEvent]
    next_cursor: str | None


def revenue_events(*, project: Project, filters: RevenueFilters) -> QuerySet[RevenueEvent]:
    """The project's billing events that match every filter, newest first."""
    events = RevenueEvent.objects.filter(project=project)
    if filters.since:
        events = events.filter(ts__gte=datetime.combine(filters.since, time.min, tzinfo=UTC))
    if filters.until:
        next_day = filters.until + timedelta(days=1)
        events = events.filter(ts__lt=datetime.combine(next_day, time.min, tzinfo=UTC))
    if filters.currency:
        events = events.filter(currency=filters.currency)
    if filters.agent:
        events = events.filter(agent_name=filters.agent)
    if filters.customer:
        events = events.filter(customer=filters.customer)
    if filters.kind:
        events = events.filter(kind=filters.kind)
    if filters.charge:
        events = events.filter(Q(external_id=filters.charge) | Q(refund_of=filters.charge))
    return events.order_by("-ts", "-id")


def revenue_events_page(
    *, project: Project, filters: RevenueFilters, cursor: str | None = None, limit: int = 50
) -> EventPage:
    """One page of billing events by keyset on (ts, id): stable while events arrive.
    One query; each event comes with its run's run_id for the link."""
    limit = max(1, min(limit, MAX_EVENT_PAGE))
    events = revenue_events(project=project, filters=filters)
    if cursor:
        ts, pk = _decode_cursor(cursor)
        events = events.filter(Q(ts__lt=ts) | Q(ts=ts, id__lt=pk))
    rows = list(events.select_related("run").only(*_EVENT_FIELDS, "run__run_id")[: limit + 1])
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return EventPage(events=rows[:limit], next_cursor=next_cursor)


_EVENT_FIELDS = (
    "id", "project_id", "event_id", "external_id", "run", "agent_name", "kind", "amount",
    "currency", "customer", "refund_of", "ts",
)  # fmt: skip

CSV_HEADER = (
    "ts", "kind", "amount", "currency", "customer", "agent", "external_id", "refund_of",
    "run_id", "event_id",
)  # fmt: skip


def revenue_events_rows(*, project: Project, filters: RevenueFilters) -> Iterator[tuple]:
    """The filtered events as CSV_HEADER tuples, streamed from a server-side cursor in
    chunks of 2,000, so memory stays flat for a million rows. Amounts stay Decimal."""
    events = revenue_events(project=project, filters=filters)
    return events.values_list(*_CSV_FIELDS).iterator(chunk_size=2000)


_CSV_FIELDS = (
    "ts", "kind", "amount", "currency", "customer", "agent_name", "external_id", "refund_of",
    "run__run_id", "event_id",
)  # fmt: skip


def _encode_cursor(event: RevenueEvent) -> str:
    raw = json.dumps([event.ts.isoformat(), event.pk]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        ts, pk = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(ts), int(pk)
    except (ValueError, TypeError, binascii.Error):
        raise FilterError("cursor: not a cursor this page gave out") from None


def decimal_text(amount: Decimal) -> str:
    """An exact amount as text, at least 2 places and no trailing zeros beyond them:
    12.500000 → "12.50", 0.333333 → "0.333333", -3 → "-3.00". Never through float."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"amount must be a Decimal, got {type(amount).__name__}")
    text = format(amount.normalize(), "f")
    whole, _, places = text.partition(".")
    return f"{whole}.{places.ljust(2, '0')}"
