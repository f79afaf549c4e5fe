"""`manage.py sharelink RUN_ID --project P [--hours H] [--as USER]` prints a new link
as its last line; `manage.py sharelink --revoke LINK [--project P] [--as USER]` ends one.

`--project` is a project's slug or name; with several organizations holding one of
that name, `--org` picks. `--as` acts as that member, with their role's rights:
without it the command acts as the operator, recorded as "command line"."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from runs.selectors.detail import run_for_detail
from shares.services import (
    DEFAULT_HOURS,
    may_revoke,
    share_path,
    sharelink_create,
    sharelink_for_token,
    sharelink_revoke,
    token_from_link,
)
from studio.models import Membership, Project
from studio.tenancy import can


class Command(BaseCommand):
    help = "Create a read-only share link to a run (printed last), or revoke one."

    def add_arguments(self, parser) -> None:
        parser.add_argument("run_id", nargs="?", help="the run to share")
        parser.add_argument("--project", help="project slug or name")
        parser.add_argument("--org", help="organization slug or name, when --project is ambiguous")
        parser.add_argument("--hours", type=int, default=DEFAULT_HOURS, help="1 to 168 (7 days)")
        parser.add_argument("--revoke", metavar="LINK", help="the link (or its token) to end")
        parser.add_argument("--as", dest="username", help="act as this member of the organization")

    def handle(self, *args, run_id, project, org, hours, revoke, username, **options) -> None:
        if revoke:
            self._revoke(revoke, project, org, username)
            return
        if not run_id or not project:
            raise CommandError("give RUN_ID and --project (or --revoke LINK)")
        target = _project(project, org)
        user, role = _actor(username, target)
        if user is not None and not can(role, "share_runs"):
            raise CommandError(f"{username} ({role}) may not share runs")
        run = run_for_detail(project=target, run_id=run_id)
        if run is None:
            raise CommandError(f"no run {run_id!r} in project {target}")
        try:
            link, token = sharelink_create(run=run, created_by=user, hours=hours)
        except ValueError as error:
            raise CommandError(f"--hours: {error}") from None
        self.stderr.write(
            f"Share link {link.prefix}… to run {run.run_id} of {target}, read-only and redacted, "
            f"until {link.expires_at:%Y-%m-%d %H:%M} UTC. It is shown once."
        )
        self.stdout.write(settings.STUDIO_BASE_URL + share_path(token))

    def _revoke(self, text: str, project: str | None, org: str | None, username: str | None):
        link = sharelink_for_token(token_from_link(text))
        if link is None:
            raise CommandError("no such share link (check it was copied whole)")
        if project and link.project_id != _project(project, org).pk:
            raise CommandError(f"that share link is not of project {project!r}")
        user, role = _actor(username, link.project)
        if user is not None and not may_revoke(user=user, role=role, link=link):
            raise CommandError(f"{username} ({role}) may revoke only the links they made")
        if sharelink_revoke(link=link, actor=user):
            self.stdout.write(f"Revoked share link {link.prefix}… to run {link.run.run_id}.")
        else:
            self.stdout.write(f"Share link {link.prefix}… was already revoked.")


def _project(name: str, org: str | None) -> Project:
    projects = Project.objects.select_related("organization").filter(Q(slug=name) | Q(name=name))
    if org:
        projects = projects.filter(Q(organization__slug=org) | Q(organization__name=org))
    found = list(projects[:2])
    if not found:
        raise CommandError(f"no project {name!r}" + (f" in {org!r}" if org else ""))
    if len(found) > 1:
        raise CommandError(f"several projects are called {name!r}: add --org")
    return found[0]


def _actor(username: str | None, project: Project):
    """The member acting, with their role in the project's organization only."""
    if not username:
        return None, None
    user = get_user_model().objects.filter(username=username).first()
    membership = Membership.objects.filter(
        user=user, organization_id=project.organization_id
    ).first()
    if user is None or membership is None:
        raise CommandError(f"{username} is not a member of {project.organization.name}")
    return user, membership.role
