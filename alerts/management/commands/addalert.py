from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from alerts.models import Channel, Kind
from alerts.services import channel_get_or_create, rule_create
from runs.management.commands.ingest import _project


class Command(BaseCommand):
    help = "Add an alert rule to a project, with the channels it notifies."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--project", required=True, help="project slug (or org/project)")
        parser.add_argument("--kind", required=True, choices=Kind.values)
        parser.add_argument("--threshold", required=True, help="see the Alerts page per kind")
        parser.add_argument("--window-minutes", help="the window (or age) the kind uses")
        parser.add_argument("--min-runs", help="failure_rate: finished runs needed (10)")
        parser.add_argument("--name", default="")
        parser.add_argument("--agent", default="", help="only this agent's runs")
        parser.add_argument("--environment", default="", help="only runs in this environment")
        parser.add_argument("--currency", default="", help="refunds: only this currency")
        parser.add_argument("--webhook", action="append", default=[], help="URL to POST to")
        parser.add_argument("--email", action="append", default=[], help="address to mail")

    def handle(self, *args, **opts) -> None:
        project = _project(opts["project"])
        try:
            with transaction.atomic():
                channels = [
                    channel_get_or_create(project=project, type_=type_, target=target)
                    for type_, targets in (
                        (Channel.Type.WEBHOOK, opts["webhook"]),
                        (Channel.Type.EMAIL, opts["email"]),
                    )
                    for target in targets
                ]
                rule = rule_create(
                    project=project,
                    kind=opts["kind"],
                    threshold=opts["threshold"],
                    window_minutes=opts["window_minutes"],
                    min_runs=opts["min_runs"],
                    name=opts["name"],
                    agent_name=opts["agent"],
                    environment=opts["environment"],
                    currency=opts["currency"],
                    channels=[channel for channel, _ in channels],
                )
        except ValueError as error:
            raise CommandError(str(error)) from None
        for channel, created in channels:
            if created and channel.secret:
                self.stderr.write(f"Webhook {channel.target} signing secret: {channel.secret}")
        self.stdout.write(f"Added rule {rule.pk} {rule.name!r} to {project}")
