"""Reads for the Alerts page. Every function takes the project: nothing reaches
another project's rules, incidents or deliveries."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Prefetch, QuerySet

from alerts.models import Channel, Delivery, Incident, Kind, Rule
from studio.models import Project

RECENT_INCIDENTS = 20
RECENT_DELIVERIES = 30


@dataclass(frozen=True)
class RuleRow:
    rule: Rule
    condition: str  # the rule in words: "failure rate > 20% of ≥ 10 runs over 60 min"
    state: str  # firing, ok, muted, off
    open_count: int


def visible_rules(project: Project, *, sees_revenue: bool) -> QuerySet[Rule]:
    """The project's rules a member may see: refunds rules only with revenue access."""
    rules = Rule.objects.filter(project=project)
    return rules if sees_revenue else rules.exclude(kind=Kind.REFUNDS)


def rule_rows(project: Project, *, sees_revenue: bool, now: datetime) -> list[RuleRow]:
    open_incidents = Incident.objects.filter(status=Incident.Status.OPEN)
    rules = visible_rules(project, sees_revenue=sees_revenue).prefetch_related(
        "channels", Prefetch("incidents", queryset=open_incidents, to_attr="open_incidents")
    )
    return [
        RuleRow(
            rule=rule,
            condition=rule_condition(rule),
            state=_state(rule, now),
            open_count=len(rule.open_incidents),
        )
        for rule in rules
    ]


def incidents_for(
    project: Project, *, sees_revenue: bool, status: str, limit: int = RECENT_INCIDENTS
) -> list[Incident]:
    incidents = Incident.objects.filter(project=project, status=status).select_related("rule")
    if not sees_revenue:
        incidents = incidents.exclude(rule__kind=Kind.REFUNDS)
    order = "-opened_at" if status == Incident.Status.OPEN else "-resolved_at"
    return list(incidents.order_by(order, "-id")[:limit])


def channels_for(project: Project) -> list[Channel]:
    """The project's channels, each with `rule_count`: how many rules notify it."""
    return list(Channel.objects.filter(project=project).annotate(rule_count=Count("rules")))


def recent_deliveries(project: Project, *, sees_revenue: bool) -> list[Delivery]:
    deliveries = Delivery.objects.filter(project=project).select_related(
        "channel", "incident__rule"
    )
    if not sees_revenue:
        deliveries = deliveries.exclude(incident__rule__kind=Kind.REFUNDS)
    return list(deliveries.order_by("-created_at", "-id")[:RECENT_DELIVERIES])


def rule_condition(rule: Rule) -> str:
    t = f"{rule.threshold.normalize():f}"
    w = _minutes(rule.window_minutes)
    return {
        Kind.FAILURE_RATE: f"failed > {t}% of ≥ {rule.min_runs} finished runs, last {w}",
        Kind.NEW_ERROR_GROUP: f"an error group first seen after this rule; open while seen in {w}",
        Kind.STALLED: f"≥ {t} running run(s) with no event for {w}",
        Kind.COST_SPIKE: f"model + tool cost this hour > {t}× the same hour's 7-day median",
        Kind.REFUNDS: f"refunds today > {t} {rule.currency or 'in any currency'}",
        Kind.INGEST: f"≥ {t} batch(es) pending over {w}, or any failed batch",
    }[rule.kind]


def _state(rule: Rule, now: datetime) -> str:
    if not rule.enabled:
        return "off"
    if rule.is_muted(now):
        return "muted"
    return "firing" if rule.open_incidents else "ok"


def _minutes(minutes: int) -> str:
    if minutes % 1440 == 0:
        return f"{minutes // 1440} d"
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"
