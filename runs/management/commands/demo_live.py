import random
import time
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from runs.demo import running_run_events
from runs.ingest.inbox import batch_store
from runs.management.commands.demo import DEMO_ORG, DEMO_PROJECT
from runs.protocol import validate_event
from studio.models import Project

TICK_SECONDS = 0.5


class Command(BaseCommand):
    help = (
        "Replay demo runs in real time through the ingest pipeline, so the live views "
        "have running runs to follow. Stops after one round unless --forever."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--forever", action="store_true", help="start new runs as they end")

    def handle(self, *args, forever: bool, **options) -> None:
        project = Project.objects.filter(organization__name=DEMO_ORG, name=DEMO_PROJECT).first()
        if project is None:
            raise CommandError("no demo project yet: run `python manage.py demo` first")
        while True:
            self._replay_round(project)
            if not forever:
                return

    def _replay_round(self, project: Project) -> None:
        now = datetime.now(UTC)
        seed = random.SystemRandom().getrandbits(32)  # new runs every round
        events = sorted(
            (
                validate_event(e)
                for e in running_run_events(seed=seed, now=now, include_future=True)
            ),
            key=lambda e: e.ts,
        )
        self.stdout.write(f"live demo: replaying {len(events)} events of 2 runs")
        while events:
            due = [e for e in events if e.ts <= datetime.now(UTC)]
            if due:
                with transaction.atomic():
                    batch_store(project=project, events=due, rejected=[], source="demo")
                events = events[len(due) :]
            time.sleep(TICK_SECONDS)
