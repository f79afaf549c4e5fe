import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from runs.ingest.loader import load_lines, wait_applied
from runs.protocol import ENVIRONMENTS
from studio.models import Project


class Command(BaseCommand):
    help = (
        "Send events from a file (or - for stdin) through the ingest pipeline. NDJSON by "
        "default; with --run-id, that run's Charm stream (the stdout of `charm run` or a "
        "container log), sent as it comes from a pipe and ended at the end of input."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="path to an NDJSON file, or - for standard input")
        parser.add_argument("--project", required=True, help="project slug (or org/project)")
        parser.add_argument("--run-id", help="treat the input as the Charm stream of this run")
        parser.add_argument("--agent", help="the agent's name, if the stream does not say it")
        parser.add_argument(
            "--environment",
            choices=ENVIRONMENTS,
            help="where the run ran (default for a stream: local)",
        )
        parser.add_argument(
            "--wait", type=float, default=0, help="seconds to wait for workers to apply it"
        )

    def handle(self, *args, file: str, project: str, run_id: str | None, wait: float, **opts):
        target = _project(project)
        if run_id is not None and not 0 < len(run_id) <= 128:
            raise CommandError("--run-id: expected 1–128 characters")
        agent = opts.get("agent")
        if agent is not None and not 0 < len(agent.strip()) <= 200:
            raise CommandError("--agent: expected an agent name of 1–200 characters")
        stream = sys.stdin if file == "-" else _open(file)
        with tqdm(unit=" lines", desc="ingest", file=sys.stderr, disable=None) as bar:
            report = load_lines(
                project=target,
                lines=stream,
                run_id=run_id,
                agent=agent.strip() if agent else None,
                environment=opts.get("environment"),
                live=file == "-",
                on_progress=lambda lines, _accepted: bar.update(lines),
            )
        for rejection in report.rejected[:50]:
            self.stderr.write(f"line {rejection.index + 1}: {rejection.error}")
        if len(report.rejected) > 50:
            self.stderr.write(f"… and {len(report.rejected) - 50} more rejected lines")
        for note in report.noted[:20]:
            self.stderr.write(f"line {note.index + 1}: {note.error}")
        if wait:
            with tqdm(total=len(report.batch_ids), unit=" batches", desc="apply") as bar:
                _, pending = wait_applied(report.batch_ids, timeout=wait, on_progress=bar.update)
            if pending:
                self.stderr.write(f"{pending} batches not applied yet: is a worker running?")
        self.stdout.write(
            f"{report.lines} lines: {report.accepted} events accepted, "
            f"{len(report.rejected)} rejected, in {len(report.batch_ids)} batches"
        )
        if report.rejected and not report.accepted:
            raise CommandError("no event was accepted")


def _project(name: str) -> Project:
    org, _, slug = name.rpartition("/")
    projects = Project.objects.filter(slug=slug).select_related("organization")
    if org:
        projects = projects.filter(organization__slug=org)
    found = list(projects[:2])
    if not found:
        raise CommandError(f"--project: no project {name!r}; create one with createapikey")
    if len(found) > 1:
        raise CommandError(f"--project: {slug!r} exists in several organizations; use ORG/{slug}")
    return found[0]


def _open(path: str):
    try:
        return open(path, encoding="utf-8", errors="replace")
    except OSError as error:
        raise CommandError(f"{path}: {error.strerror}") from None
