"""Writes for tenancy: organizations, projects and members."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.text import slugify

from studio.models import Membership, Organization, Project, Role


def organization_get_or_create(*, name: str) -> Organization:
    slug = slugify(name) or "org"
    org, _ = Organization.objects.get_or_create(slug=slug, defaults={"name": name})
    return org


def project_get_or_create(*, organization: Organization, name: str) -> Project:
    slug = slugify(name) or "project"
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


def member_remove(*, membership: Membership) -> None:
    """Remove a member, refusing to leave an organization without an owner."""
    if membership.role == Role.OWNER:
        _ensure_another_owner(membership)
    membership.delete()


def _ensure_another_owner(membership: Membership) -> None:
    others = Membership.objects.filter(organization=membership.organization, role=Role.OWNER)
    if not others.exclude(pk=membership.pk).exists():
        raise ValueError("an organization needs at least one owner")
