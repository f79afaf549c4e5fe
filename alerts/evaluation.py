"""One evaluation pass: every enabled rule's condition, its incidents stepped, and the
deliveries of what changed queued. Run every minute by beat and by `evaluatealerts`."""

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from alerts.conditions import evaluate_rule
from alerts.deliveries import deliveries_for
from alerts.incidents import incidents_step
from alerts.models import Rule

logger = logging.getLogger(__name__)


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
        for transition in incidents_step(rule=rule, findings=findings, now=now):
            if transition.event == "opened":
                result.opened += 1
            else:
                result.resolved += 1
            if transition.notify:
                result.delivery_ids += deliveries_for(
                    rule=rule, incident=transition.incident, event=transition.event, now=now
                )
        Rule.objects.filter(pk=rule.pk).update(last_evaluated_at=now)
        result.rules += 1
