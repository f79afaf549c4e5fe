"""The incident state machine: what one evaluation of a rule does to its incidents.

    (none) ── firing ──▶ open ──(clear for ALERT_RESOLVE_AFTER_SECONDS)──▶ resolved
                          ▲  └─ clear, then firing again before that: stays open, silent

An incident notifies when it opens and when it resolves, never while it stays open, so
a condition that holds for a day sends two messages, not 1,440. A muted rule still
keeps its incidents (the page shows them) but sends nothing for them; one still open
when the mute ends is notified then.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from alerts.conditions import Finding
from alerts.models import Incident, Kind, Rule


@dataclass(frozen=True)
class Transition:
    incident: Incident
    event: str  # opened or resolved
    notify: bool


def incidents_step(*, rule: Rule, findings: list[Finding], now: datetime) -> list[Transition]:
    """Open, refresh or resolve the rule's incidents from this evaluation's findings.
    The caller holds a lock on the rule (select_for_update), so passes never race."""
    firing = {finding.key: finding for finding in findings}
    open_incidents = {i.key: i for i in rule.incidents.filter(status=Incident.Status.OPEN)}
    transitions, refreshed = [], []
    for key, finding in firing.items():
        incident = open_incidents.get(key)
        if incident is None:
            if _opens_once_only(rule) and rule.incidents.filter(key=key).exists():
                continue
            transitions.append(_open(rule, finding, now))
        else:
            refreshed.append(_refresh(incident, finding, now))
            if incident.muted and not rule.is_muted(now):
                # The mute ended and it still fires: tell now what the mute held back.
                incident.muted = False
                transitions.append(Transition(incident, "opened", notify=True))
    # One statement for the incidents that stay open, however many a rule has.
    Incident.objects.bulk_update(refreshed, _REFRESHED_FIELDS)
    for key, incident in open_incidents.items():
        if key not in firing:
            transition = _clear(rule, incident, now)
            if transition:
                transitions.append(transition)
    return transitions


def _opens_once_only(rule: Rule) -> bool:
    # A new error group is new once: the same group coming back later is not news.
    return rule.kind == Kind.NEW_ERROR_GROUP


def _open(rule: Rule, finding: Finding, now: datetime) -> Transition:
    muted = rule.is_muted(now)
    incident = Incident.objects.create(
        project_id=rule.project_id,
        rule=rule,
        key=finding.key,
        title=finding.title[:300],
        summary=finding.summary,
        link=finding.link,
        context=finding.context,
        opened_at=now,
        last_firing_at=now,
        muted=muted,
    )
    return Transition(incident, "opened", notify=not muted)


_REFRESHED_FIELDS = [
    "title", "summary", "link", "context", "last_firing_at", "clear_since", "muted",
]  # fmt: skip


def _refresh(incident: Incident, finding: Finding, now: datetime) -> Incident:
    """The latest numbers on an incident that stays open (saved by the caller)."""
    incident.title = finding.title[:300]
    incident.summary = finding.summary
    incident.link = finding.link
    incident.context = finding.context
    incident.last_firing_at = now
    incident.clear_since = None
    return incident


def _clear(rule: Rule, incident: Incident, now: datetime) -> Transition | None:
    if incident.clear_since is None:
        incident.clear_since = now
        incident.save(update_fields=["clear_since"])
    if now - incident.clear_since < timedelta(seconds=settings.ALERT_RESOLVE_AFTER_SECONDS):
        return None
    incident.status = Incident.Status.RESOLVED
    incident.resolved_at = now
    incident.save(update_fields=["status", "resolved_at"])
    # Opened silently (muted) means resolved silently: nobody was told it began.
    return Transition(incident, "resolved", notify=not (incident.muted or rule.is_muted(now)))
