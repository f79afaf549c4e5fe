"""Who the request acts for: the user's current organization, role and project.

Every page reads `request.org`, `request.project` and `request.role`; selectors
filter by them, so no query can reach another organization's data.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from studio.models import Membership, Project, Role

# What each role may do. Pages and API check capabilities, never role names.
CAPABILITIES: dict[str, frozenset[str]] = {
    "view_runs": frozenset(Role.values),
    "view_usage": frozenset({Role.OWNER, Role.DEVELOPER, Role.SUPPORT, Role.FINANCE}),
    "view_revenue": frozenset({Role.OWNER, Role.FINANCE}),
    "manage_keys": frozenset({Role.OWNER, Role.DEVELOPER}),
    "retry_batches": frozenset({Role.OWNER, Role.DEVELOPER}),
    "view_alerts": frozenset({Role.OWNER, Role.DEVELOPER, Role.SUPPORT, Role.FINANCE}),
    "manage_alerts": frozenset({Role.OWNER, Role.DEVELOPER}),
    "manage_members": frozenset({Role.OWNER}),
    "manage_projects": frozenset({Role.OWNER}),
    "edit_prices": frozenset({Role.OWNER}),
    # Share links: anyone who sees runs may share one; an owner may end anyone's.
    "share_runs": frozenset(Role.values),
    "revoke_any_share": frozenset({Role.OWNER}),
    "view_audit": frozenset({Role.OWNER}),
    "edit_redaction": frozenset({Role.OWNER}),
}


def can(role: str | None, capability: str) -> bool:
    return role is not None and role in CAPABILITIES[capability]


class TenancyMiddleware:
    """Resolve the current organization and project from the session, two queries."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.org = request.membership = request.role = request.project = None
        request.memberships = []
        request.projects = []
        if request.user.is_authenticated:
            _resolve(request)
        return self.get_response(request)


def _resolve(request: HttpRequest) -> None:
    memberships = list(
        Membership.objects.filter(user=request.user)
        .select_related("organization")
        .order_by("organization__name")
    )
    if not memberships:
        return
    wanted_org = request.session.get("org_id")
    membership = next((m for m in memberships if m.organization_id == wanted_org), memberships[0])
    request.memberships = memberships
    request.membership = membership
    request.org = membership.organization
    request.role = membership.role
    request.projects = list(Project.objects.filter(organization=request.org).order_by("name"))
    wanted_project = request.session.get("project_id")
    request.project = next(
        (p for p in request.projects if p.id == wanted_project),
        request.projects[0] if request.projects else None,
    )


def tenancy_context(request: HttpRequest) -> dict:
    role = getattr(request, "role", None)
    return {"perms_for": {cap: can(role, cap) for cap in CAPABILITIES}}


def require_capability(capability: str, *, needs_project: bool = True):
    """Page decorator: login, a membership with `capability`, and (usually) a project."""

    def decorator(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                # The full path, quoted: a filtered list survives the login.
                return redirect_to_login(request.get_full_path())
            if request.org is None:
                return render(request, "studio/no_organization.html", status=403)
            if not can(request.role, capability):
                return render(
                    request, "studio/forbidden.html", {"capability": capability}, status=403
                )
            if needs_project and request.project is None:
                return redirect("settings:index")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
