from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from studio.apikeys import apikey_create
from studio.services import organization_get_or_create, project_get_or_create


class Command(BaseCommand):
    help = "Create an API key for a project (creating the organization and project if missing)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", required=True, help="organization name or slug")
        parser.add_argument("--project", required=True, help="project name or slug")
        parser.add_argument("--scopes", default="ingest,read", help="comma-separated: ingest,read")
        parser.add_argument("--name", default="", help="a label to recognise the key by")

    def handle(self, *args, org: str, project: str, scopes: str, name: str, **options) -> None:
        wanted = [s.strip() for s in scopes.split(",") if s.strip()]
        try:
            with transaction.atomic():  # bad scopes leave no new organization or project behind
                organization = organization_get_or_create(name=org)
                target = project_get_or_create(organization=organization, name=project)
                key, raw_key = apikey_create(project=target, scopes=wanted, name=name)
        except ValueError as error:
            raise CommandError(f"--scopes: {error}") from None
        self.stderr.write(
            f"Created key {key.prefix}… for {target} with scopes {', '.join(key.scopes)}. "
            "It is shown once; store it now."
        )
        self.stdout.write(raw_key)
