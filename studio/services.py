"""Writes for tenancy: organizations, projects and members."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from studio.models import Membership, Organization, Project, Role


def _slug(name: str, fallback: str) -> str:
    # Names may have 200 characters, slugs 100: cut, or a long name is a database error.
    return slugify(name)[:100].strip("-") or fallback


def organization_get_or_create(*, name: str) -> Organization:
    slug = _slug(name, "org")
    org, _ = Organization.objects.get_or_create(slug=slug, defaults={"name": name})
    return org


def project_get_or_create(*, organization: Organization, name: str) -> Project:
    slug = _slug(name, "project")
    project, _ = Project.objects.get_or_create(
        organization=organization, slug=slug, defaults={"name": name}
    )
    return project


@transaction.atomic
def member_set(
    *, organization: Organization, username: str, role: str, password: str | None = None
) -> Membership:
    """Create the user if missing and give them `role` in the organization."""
    if role not in Role.values:
        raise ValueError(f"role must be one of {', '.join(Role.values)}; got {role!r}")
    user_model = get_user_model()
    try:
        user_model._meta.get_field("username").run_validators(username)
    except ValidationError:
        raise ValueError(
            f"a username has 1 to 150 letters, digits and @ . + - _ only; got {username[:160]!r}"
        ) from None
    user, created = user_model.objects.get_or_create(username=username)
    if password:
        user.set_password(password)
        user.save()
    elif created:
        user.set_unusable_password()
        user.save()
    current = Membership.objects.filter(organization=organization, user=user).first()
    if current and current.role == Role.OWNER and role != Role.OWNER:
        _ensure_another_owner(current)
    membership, _ = Membership.objects.update_or_create(
        organization=organization, user=user, defaults={"role": role}
    )
    return membership


@transaction.atomic
def member_remove(*, membership: Membership) -> None:
    """Remove a member, refusing to leave an organization without an owner."""
    if membership.role == Role.OWNER:
        _ensure_another_owner(membership)
    membership.delete()


def _ensure_another_owner(membership: Membership) -> None:
    # Lock the owners (in one order) so two owners stepping down at once cannot both pass.
    owners = (
        Membership.objects.select_for_update()
        .filter(organization_id=membership.organization_id, role=Role.OWNER)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not [pk for pk in owners if pk != membership.pk]:
        raise ValueError("an organization needs at least one owner")
