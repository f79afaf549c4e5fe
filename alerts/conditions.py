"""What each rule kind watches: plain functions from a rule and the time to findings.

A condition returns one `Finding` per thing that is firing (none: all clear). Each
reads rollup tables or a partial index, one or two queries, so a pass stays cheap
whatever the number of runs. Thresholds, by kind:

- failure_rate: percent of finished runs that failed, over the window (whole hours of
  the rollup, the current one included), once at least `min_runs` runs finished;
- new_error_group: none; a group born after the rule fires while seen in the window;
- stalled: how many running runs with no event for `window_minutes` fire (≥);
- cost_spike: k; this hour's model + tool cost > k × the median of the same hour over
  the 7 days before, per currency;
- refunds: refunds today above this amount, per currency (or `currency` only);
- ingest: pending batches older than the window (≥); any failed batch also fires.
"""

import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import Count, Min, Sum
from django.urls import reverse

from alerts.models import Kind, Rule
from billing.models import RevenueAgentDaily, ToolUsageHourly
from billing.prices import tool_prices_load
from billing.pricing import format_money
from billing.tool_pricing import tool_use_cost
from runs.ingest.rollups import hour_of
from runs.models import ErrorGroup, IngestBatch, Run, UsageHourly

NEW_GROUPS_SHOWN = 20  # a burst of new groups opens at most this many incidents a pass
COST_BASELINE_DAYS = 7
MODEL_COST_CURRENCY = "USD"  # the currency of the shipped model price table


@dataclass(frozen=True)
class Finding:
    key: str  # what the incident is about, within the rule: "" for the rule as a whole
    title: str
    summary: str
    link: str  # a path in Studio
    context: dict = field(default_factory=dict)


def evaluate_rule(rule: Rule, now: datetime) -> list[Finding]:
    return CONDITIONS[rule.kind](rule, now)


def failure_rate(rule: Rule, now: datetime) -> list[Finding]:
    since = hour_of(now - timedelta(minutes=rule.window_minutes))
    rows = UsageHourly.objects.filter(project_id=rule.project_id, hour__gte=since, model="")
    sums = _narrowed(rows, rule).aggregate(failed=Sum("failures"), finished=Sum("finished"))
    failed, finished = sums["failed"] or 0, sums["finished"] or 0
    if finished < max(rule.min_runs, 1):
        return []
    rate = Decimal(failed * 100) / finished
    if rate <= rule.threshold:
        return []
    return [
        Finding(
            key="",
            title=f"Failure rate {rate:.1f}% {_scope(rule)}",
            summary=(
                f"{failed} of {finished} finished runs failed since {_hhmm(since)} "
                f"(threshold {_num(rule.threshold)}%)"
            ),
            link=runs_list_link(rule, status="failed", since=since),
            context={"failed": failed, "finished": finished, "rate": f"{rate:.2f}"},
        )
    ]


def new_error_group(rule: Rule, now: datetime) -> list[Finding]:
    since = now - timedelta(minutes=rule.window_minutes)
    # Only groups born after the rule: making a rule does not page for old errors.
    groups = ErrorGroup.objects.filter(
        project_id=rule.project_id, last_seen__gte=since, first_seen__gte=rule.created_at
    )
    if rule.agent_name:
        groups = groups.filter(agents__contains=[rule.agent_name])
    findings = []
    for group in groups.order_by("-last_seen")[:NEW_GROUPS_SHOWN]:
        findings.append(
            Finding(
                key=f"group:{group.pk}",
                title=f"New error: {group.title[:200]}",
                summary=(
                    f"{group.run_count} run(s), {group.event_count} event(s) since "
                    f"{_hhmm(group.first_seen)}; agents: {', '.join(group.agents) or '—'}"
                ),
                link=reverse("runs:error_detail", args=[group.pk]),
                context={"group_id": group.pk, "runs": group.run_count},
            )
        )
    return findings


def stalled(rule: Rule, now: datetime) -> list[Finding]:
    cutoff = now - timedelta(minutes=rule.window_minutes)
    runs = Run.objects.filter(
        project_id=rule.project_id, status_terminal=False, last_event_at__lt=cutoff
    )
    runs = _narrowed(runs, rule)
    sums = runs.aggregate(count=Count("id"), oldest=Min("last_event_at"))
    if not sums["count"] or sums["count"] < max(rule.threshold, 1):
        return []
    oldest = runs.order_by("last_event_at").values_list("run_id", flat=True).first()
    count = sums["count"]
    link = run_link(oldest) if count == 1 else runs_list_link(rule, status="running", until=cutoff)
    return [
        Finding(
            key="",
            title=f"{count} run(s) stalled over {rule.window_minutes} min {_scope(rule)}",
            summary=f"No event since {_hhmm(sums['oldest'])} for the oldest, {oldest}",
            link=link,
            context={"count": count, "oldest_run": oldest},
        )
    ]


def cost_spike(rule: Rule, now: datetime) -> list[Finding]:
    hour = hour_of(now)
    hours = [hour - timedelta(days=d) for d in range(COST_BASELINE_DAYS + 1)]
    costs = hourly_costs(rule, hours)
    findings = []
    # Per currency: tool prices may be in another one, and money never mixes.
    for currency in sorted(costs):
        by_hour = costs[currency]
        current = by_hour.get(hour, Decimal(0))
        median = statistics.median(by_hour.get(h, Decimal(0)) for h in hours[1:])
        # No baseline, no spike: a new project's first costs are not an anomaly.
        if median <= 0 or current <= rule.threshold * median:
            continue
        factor = current / median
        findings.append(
            Finding(
                key=f"currency:{currency}",
                title=f"Cost {factor:.1f}× the usual for {hour:%H}:00 UTC {_scope(rule)}",
                summary=(
                    f"{_money(current)} {currency} of model and tool cost this hour against "
                    f"a median of {_money(median)} for the same hour of the last "
                    f"{COST_BASELINE_DAYS} days (threshold {_num(rule.threshold)}×)"
                ),
                link=runs_list_link(rule, since=hour),
                context={"cost": str(current), "median": str(median), "factor": f"{factor:.2f}"},
            )
        )
    return findings


def hourly_costs(rule: Rule, hours: list[datetime]) -> dict[str, dict[datetime, Decimal]]:
    """Model cost (UsageHourly, priced in the price table's USD) plus tool cost
    (ToolUsageHourly at the organization's tool prices) per currency and hour."""
    costs: dict[str, dict[datetime, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    model_rows = UsageHourly.objects.filter(project_id=rule.project_id, hour__in=hours)
    for hour, cost in _narrowed(model_rows, rule).values_list("hour").annotate(Sum("cost")):
        costs[MODEL_COST_CURRENCY][hour] += cost
    tool_rows = ToolUsageHourly.objects.filter(project_id=rule.project_id, hour__in=hours)
    tool_rows = _narrowed(tool_rows, rule).values_list("hour", "tool").annotate(Sum("count"))
    if tool_rows:
        book = tool_prices_load(rule.project.organization_id)
        for hour, tool, count in tool_rows:
            price = book.price_on(tool, hour.astimezone(UTC).date())
            if price is not None:  # unpriced uses cost nothing known
                costs[price.currency][hour] += tool_use_cost(int(count), price)
    return costs


def refunds(rule: Rule, now: datetime) -> list[Finding]:
    day = now.astimezone(UTC).date()
    rows = RevenueAgentDaily.objects.filter(project_id=rule.project_id, day=day)
    if rule.agent_name:
        rows = rows.filter(agent_name=rule.agent_name)
    if rule.currency:
        rows = rows.filter(currency=rule.currency)
    totals = rows.values_list("currency").annotate(refunds=Sum("refunds"), n=Count("id"))
    findings = []
    # Money is never summed across currencies: each one is its own incident.
    for currency, amount, _ in totals.order_by("currency"):
        if amount > rule.threshold:
            findings.append(
                Finding(
                    key=f"currency:{currency}",
                    title=f"Refunds today {format_money(amount, currency)} {_scope(rule)}",
                    summary=f"Above the threshold of {_num(rule.threshold)} {currency} for {day}",
                    link=_revenue_link(rule, day, currency),
                    context={"refunds": str(amount), "currency": currency, "day": str(day)},
                )
            )
    return findings


def ingest(rule: Rule, now: datetime) -> list[Finding]:
    batches = IngestBatch.objects.filter(project_id=rule.project_id)
    cutoff = now - timedelta(minutes=rule.window_minutes)
    # Two counts, each on its partial index: pending and failed batches are few.
    sums = {
        "backlog": batches.filter(status="pending", received_at__lt=cutoff).count(),
        "failed": batches.filter(status="failed").count(),
    }
    link = reverse("runs:health")
    findings = []
    if sums["backlog"] and sums["backlog"] >= max(rule.threshold, 1):
        findings.append(
            Finding(
                key="backlog",
                title=f"{sums['backlog']} ingest batch(es) waiting over {rule.window_minutes} min",
                summary="Events were accepted but no worker has applied them yet",
                link=link,
                context={"backlog": sums["backlog"]},
            )
        )
    if sums["failed"]:
        findings.append(
            Finding(
                key="failed",
                title=f"{sums['failed']} ingest batch(es) failed",
                summary="Their events are not in Studio; retry them from Ingest health",
                link=link,
                context={"failed": sums["failed"]},
            )
        )
    return findings


CONDITIONS: dict[str, Callable[[Rule, datetime], list[Finding]]] = {
    Kind.FAILURE_RATE: failure_rate,
    Kind.NEW_ERROR_GROUP: new_error_group,
    Kind.STALLED: stalled,
    Kind.COST_SPIKE: cost_spike,
    Kind.REFUNDS: refunds,
    Kind.INGEST: ingest,
}


def runs_list_link(rule: Rule, **params) -> str:
    """The runs list filtered as the rule counts: its agent and environment, plus
    `params` (times as RFC 3339, so the link shows the same runs tomorrow)."""
    values = {"agent": rule.agent_name, "environment": rule.environment, **params}
    query = {
        name: _iso(value) if isinstance(value, datetime) else value
        for name, value in values.items()
        if value
    }
    return f"{reverse('runs:list')}?{urlencode(query)}" if query else reverse("runs:list")


def run_link(run_id: str) -> str:
    from runs.views.runs import run_href

    return run_href(run_id)


def _revenue_link(rule: Rule, day: date, currency: str) -> str:
    """The revenue page for that day and currency, its refunds listed."""
    query = {"from": day.isoformat(), "to": day.isoformat(), "currency": currency}
    query |= {"kind": "refund", "agent": rule.agent_name}
    return f"{reverse('billing:revenue')}?{urlencode({k: v for k, v in query.items() if v})}"


def _narrowed(rows, rule: Rule):
    if rule.agent_name:
        rows = rows.filter(agent_name=rule.agent_name)
    if rule.environment:
        rows = rows.filter(environment=rule.environment)
    return rows


def _scope(rule: Rule) -> str:
    parts = [p for p in (rule.agent_name, rule.environment) if p]
    return f"({', '.join(parts)})" if parts else "(all agents)"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hhmm(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _num(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _money(value: Decimal) -> str:
    return f"{value:.4f}"
