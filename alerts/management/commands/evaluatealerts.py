from django.core.management.base import BaseCommand

from alerts.deliveries import deliveries_send_now
from alerts.evaluation import alerts_evaluate


class Command(BaseCommand):
    help = "Evaluate every enabled alert rule once now, and send what it notifies."

    def handle(self, *args, **opts) -> None:
        result = alerts_evaluate()
        # Sent here rather than by a worker: a script sees the outcome when this returns.
        deliveries_send_now(result.delivery_ids)
        self.stdout.write(
            f"Evaluated {result.rules} rule(s): {result.opened} incident(s) opened, "
            f"{result.resolved} resolved, {len(result.delivery_ids)} notification(s) sent"
        )
        for rule_id in result.failed_rules:
            self.stderr.write(f"Rule {rule_id} could not be evaluated; see the log")
