"""Tool usage reads: billable tool uses (Charm's `tool_usage`) from `ToolUsageDaily`,
priced at read time with the organization's tool prices (`billing.tool_pricing`).

Uses are kept per UTC day of the run's start, agent and tool: not per hour and not
per environment, so a page can narrow them by days and by agent only."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import F, Max, Min, OuterRef, Q, Subquery, Sum

from billing.models import ToolPrice, ToolUsageDaily
from billing.prices import tool_prices_load
from billing.tool_pricing import ToolCost
from studio.models import Organization, Project

NO_AGENT = "(no agent)"


@dataclass
class ToolRow:
    """The uses and cost of one tool, or of one agent's tools."""

    name: str
    cost: ToolCost = field(default_factory=ToolCost)


@dataclass
class ToolUsageReport:
    first_day: date
    last_day: date
    days: list[date]
    uses: dict[str, list[int]]  # tool → uses per day, in `days` order
    tools: list[ToolRow]  # by uses, then name
    agents: list[ToolRow]  # by uses, then name
    total: ToolCost

    @property
    def is_empty(self) -> bool:
        return not self.tools


def tool_days(start: datetime, end: datetime) -> tuple[date, date]:
    """The UTC days a [start, end) time range touches: tool uses are kept per day, so a
    range that starts mid-day reads that whole day."""
    return start.date(), (end - timedelta(microseconds=1)).date()


def tool_usage_report(
    *, project: Project, first_day: date, last_day: date, agent: str = ""
) -> ToolUsageReport:
    """Tool uses and their cost per currency from `first_day` to `last_day` (both in),
    by tool, by agent and per day by tool; optionally one agent's only. Two queries
    (one when there are no uses: then there is nothing to price)."""
    rows = _daily_uses(project, first_day, last_day, agent)
    book = tool_prices_load(project.organization_id) if rows else None
    days = [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]
    uses: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    tools: dict[str, ToolRow] = {}
    agents: dict[str, ToolRow] = {}
    total = ToolCost()
    for day, agent_name, tool, count in rows:
        price = book.price_on(tool, day)
        name = agent_name or NO_AGENT
        for cost in (
            tools.setdefault(tool, ToolRow(name=tool)).cost,
            agents.setdefault(name, ToolRow(name=name)).cost,
            total,
        ):
            cost.add(count, price)
        uses[tool][(day - first_day).days] += count
    return ToolUsageReport(
        first_day=first_day,
        last_day=last_day,
        days=days,
        uses=dict(uses),
        tools=_by_uses(tools),
        agents=_by_uses(agents),
        total=total,
    )


def tool_cost_by_agent(
    *, project: Project, since: date | None, until: date | None, agent: str = ""
) -> dict[str, ToolCost]:
    """Tool cost per agent (its name as stored, "" for none) over the days given
    (None: unbounded), for the revenue page's margin. Two queries (one without uses)."""
    rows = _daily_uses(project, since, until, agent)
    book = tool_prices_load(project.organization_id) if rows else None
    costs: dict[str, ToolCost] = defaultdict(ToolCost)
    for day, agent_name, tool, count in rows:
        costs[agent_name].add(count, book.price_on(tool, day))
    return dict(costs)


def _daily_uses(
    project: Project, since: date | None, until: date | None, agent: str
) -> list[tuple[date, str, str, int]]:
    """(day, agent, tool, uses) rows of the project's rollup over the days. One row per
    key already: pricing needs the day, the price may change from one to the next."""
    rows = ToolUsageDaily.objects.filter(project_id=project.id).exclude(count=0)
    if since:
        rows = rows.filter(day__gte=since)
    if until:
        rows = rows.filter(day__lte=until)
    if agent:
        rows = rows.filter(agent_name=agent)
    return list(rows.values_list("day", "agent_name", "tool", "count"))


def _by_uses(rows: dict[str, ToolRow]) -> list[ToolRow]:
    return sorted(rows.values(), key=lambda r: (-r.cost.uses, r.name))


def tool_usage_exists(*, project: Project) -> bool:
    """Whether the project ever reported a billable tool use."""
    return ToolUsageDaily.objects.filter(project_id=project.id).exclude(count=0).exists()


# ── The prices page ───────────────────────────────────────────────────────────────


@dataclass
class UnpricedTool:
    tool: str
    uses: int  # uses on days no price of the tool covers
    first_day: date
    last_day: date


@dataclass
class ToolPriceRow:
    price: ToolPrice
    state: str  # "scheduled" (from a later day), "current" (in force today) or "earlier"


def tool_price_rows(*, organization: Organization, today: date) -> list[ToolPriceRow]:
    """The organization's tool price rows, by tool and newest first, each marked as in
    force `today`, scheduled for a later day, or earlier (still pricing older days)."""
    rows: list[ToolPriceRow] = []
    tool, seen_current = None, False
    for price in ToolPrice.objects.filter(organization=organization).order_by(
        "tool", "-effective_from"
    ):
        if price.tool != tool:
            tool, seen_current = price.tool, False
        if price.effective_from > today:
            state = "scheduled"
        elif not seen_current:
            state, seen_current = "current", True
        else:
            state = "earlier"
        rows.append(ToolPriceRow(price=price, state=state))
    return rows


def unpriced_tools(*, organization: Organization) -> list[UnpricedTool]:
    """Tools its projects used on days no price covers (before the tool's first price,
    or with none at all), most uses first. The same rule as `ToolPriceBook.price_on`,
    in the database: one query, however many days are behind it."""
    first_price = (
        ToolPrice.objects.filter(organization=organization, tool=OuterRef("tool"))
        .order_by("effective_from")
        .values("effective_from")[:1]
    )
    projects = Project.objects.filter(organization=organization).values("id")
    rows = (
        ToolUsageDaily.objects.filter(project_id__in=projects)
        .exclude(count=0)
        .annotate(first_price=Subquery(first_price))
        .filter(Q(first_price__isnull=True) | Q(day__lt=F("first_price")))
        .values("tool")
        .annotate(uses=Sum("count"), first_day=Min("day"), last_day=Max("day"))
        .filter(uses__gt=0)
        .order_by("-uses", "tool")
    )
    return [UnpricedTool(**row) for row in rows]


__all__ = [
    "NO_AGENT",
    "ToolPriceRow",
    "ToolRow",
    "ToolUsageReport",
    "UnpricedTool",
    "tool_cost_by_agent",
    "tool_days",
    "tool_price_rows",
    "tool_usage_exists",
    "tool_usage_report",
    "unpriced_tools",
]
