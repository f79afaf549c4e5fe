import sys

from django.core.management.base import BaseCommand
from tqdm import tqdm

from runs.demo import iter_demo_ndjson
from runs.ingest.loader import load_lines, wait_applied
from runs.models import Run
from studio.apikeys import apikey_create
from studio.services import member_set, organization_get_or_create, project_get_or_create

DEMO_ORG = "Demo Org"
DEMO_PROJECT = "Demo agents"
DEMO_USER = "demo"
DEMO_PASSWORD = "charm-studio-demo"  # noqa: S105 - a local demo login, printed on start


class Command(BaseCommand):
    help = "Create a demo organization, owner and project, and load demo runs through ingest."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--runs", type=int, default=300)
        parser.add_argument("--wait", type=float, default=600, help="seconds to wait for workers")
        parser.add_argument("--force", action="store_true", help="load even if runs exist")

    def handle(self, *args, runs: int, wait: float, force: bool, **options) -> None:
        org = organization_get_or_create(name=DEMO_ORG)
        project = project_get_or_create(organization=org, name=DEMO_PROJECT)
        member_set(organization=org, username=DEMO_USER, role="owner", password=DEMO_PASSWORD)
        if Run.objects.filter(project=project).exists() and not force:
            self.stdout.write("Demo runs are already loaded.")
            return
        _, raw_key = apikey_create(project=project, scopes=["ingest", "read"], name="demo")
        with tqdm(unit=" events", desc="demo: send", file=sys.stderr) as bar:
            report = load_lines(
                project=project,
                lines=iter_demo_ndjson(runs=runs),
                source="demo",
                on_progress=lambda _lines, accepted: bar.update(accepted),
            )
        with tqdm(total=len(report.batch_ids), unit=" batches", desc="demo: apply") as bar:
            applied, pending = wait_applied(report.batch_ids, timeout=wait, on_progress=bar.update)
        self.stdout.write(
            f"Loaded {report.accepted} demo events in {applied} batches"
            + (f" ({pending} still pending: is a worker running?)" if pending else "")
        )
        self.stdout.write(f"Demo API key (ingest, read): {raw_key}")
