"""One evaluation pass: every enabled rule's condition, its incidents stepped, and the
deliveries of what changed queued. Run every minute by beat and by `evaluatealerts`."""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from alerts.conditions import evaluate_rule
from alerts.deliveries import deliveries_for, digest_for
from alerts.incidents import Transition, incidents_step
from alerts.models import Rule

logger = logging.getLogger(__name__)
DIGEST_AFTER = 3


@dataclass
class PassResult:
    rules: int = 0
    opened: int = 0
    resolved: int = 0
    failed_rules: list[int] = field(default_factory=list)
    delivery_ids: list[int] = field(default_factory=list)


def alerts_evaluate(*, now: datetime | None = None, project_id: int | None = None) -> PassResult:
    """Evaluate the enabled rules (of one project, or all); returns what changed and
    the ids of the deliveries to send. A rule whose condition raises is logged and
    skipped, so one broken rule does not silence the others."""
    now = now or timezone.now()
    rules = Rule.objects.filter(enabled=True).order_by("id")
    if project_id is not None:
        rules = rules.filter(project_id=project_id)
    result = PassResult()
    for rule_id in rules.values_list("id", flat=True):
        try:
            _evaluate_one(rule_id, now, result)
        except Exception:
            logger.exception("alert rule %s could not be evaluated", rule_id)
            result.failed_rules.append(rule_id)
    return result


def _evaluate_one(rule_id: int, now: datetime, result: PassResult) -> None:
    with transaction.atomic():
        # The lock makes two overlapping passes take turns on a rule, never both open.
        rule = (
            Rule.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("project")
            .filter(pk=rule_id, enabled=True)
            .first()
        )
        if rule is None:
            return
        findings = evaluate_rule(rule, now)
        transitions = incidents_step(rule=rule, findings=findings, now=now)
        result.opened += sum(t.event == "opened" for t in transitions)
        result.resolved += sum(t.event == "resolved" for t in transitions)
        result.delivery_ids += _notify(rule, transitions, now)
        Rule.objects.filter(pk=rule.pk).update(last_evaluated_at=now)
        result.rules += 1


def _notify(rule: Rule, transitions: list[Transition], now: datetime) -> list[int]:
    """Queue a message per incident that opened or resolved, or, when a rule changed
    more than DIGEST_AFTER incidents the same way in one pass, one message for them all:
    a burst of 50 new error groups is one email, not 50."""
    by_event: dict[str, list] = defaultdict(list)
    for transition in transitions:
        if transition.notify:
            by_event[transition.event].append(transition.incident)
    ids = []
    for event, incidents in by_event.items():
        if len(incidents) > DIGEST_AFTER:
            ids += digest_for(rule=rule, incidents=incidents, event=event, now=now)
            continue
        for incident in incidents:
            ids += deliveries_for(rule=rule, incident=incident, event=event, now=now)
    return ids
