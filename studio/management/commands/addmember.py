from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from studio.models import Role
from studio.services import member_set, organization_get_or_create


class Command(BaseCommand):
    help = "Create a user if missing and give them a role in an organization."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--org", required=True, help="organization name or slug")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--password", help="set (or reset) the user's password")

    def handle(self, *args, username: str, org: str, role: str, password: str | None, **options):
        try:
            with transaction.atomic():  # a refused member leaves no new organization behind
                organization = organization_get_or_create(name=org)
                membership = member_set(
                    organization=organization, username=username, role=role, password=password
                )
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"{membership.user.username} is {role} of {organization.name}")
