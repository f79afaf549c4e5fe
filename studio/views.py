"""Settings pages (projects, members, API keys), project switching and health."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from runs.retention import retention_days, retention_parse
from shares.redaction import compile_project_patterns
from shares.selectors import links_for_settings
from shares.services import may_revoke
from studio import health
from studio.apikeys import apikey_create, apikey_revoke
from studio.audit import audit_recent, audit_request
from studio.models import (
    RETENTION_MAX_DAYS,
    RETENTION_MIN_DAYS,
    ApiKey,
    Membership,
    Role,
    Scope,
)
from studio.services import member_remove, member_set, project_get_or_create
from studio.tenancy import can, require_capability

NEW_KEY_COOKIE = "studio_new_key"
NEW_KEY_PATH = "/settings/"
NEW_KEY_SECONDS = 120


@require_GET
@require_capability("view_runs", needs_project=False)
def settings_index(request: HttpRequest) -> HttpResponse:
    members = Membership.objects.filter(organization=request.org).select_related("user")
    keys = (
        ApiKey.objects.filter(project=request.project).select_related("created_by")
        if request.project and can(request.role, "manage_keys")
        else []
    )
    share_links = links_for_settings(organization=request.org, project=request.project)
    response = render(
        request,
        "studio/settings.html",
        {
            "share_links": [
                (link, may_revoke(user=request.user, role=request.role, link=link))
                for link in share_links
            ],
            "audit_entries": audit_recent(organization=request.org)
            if can(request.role, "view_audit")
            else [],
            "members": members.order_by("user__username"),
            "keys": keys,
            "roles": Role.choices,
            "scopes": Scope.choices,
            "retention_default": settings.EVENT_RETENTION_DAYS,
            "retention_bounds": (RETENTION_MIN_DAYS, RETENTION_MAX_DAYS),
            "new_key": request.get_signed_cookie(NEW_KEY_COOKIE, None, max_age=NEW_KEY_SECONDS),
        },
    )
    response.delete_cookie(NEW_KEY_COOKIE, path=NEW_KEY_PATH)
    return response


@require_POST
@require_capability("manage_projects", needs_project=False)
def project_create(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "").strip()
    if not name or len(name) > 200:
        messages.error(request, "A project needs a name of 1 to 200 characters.")
        return redirect("settings:index")
    project = project_get_or_create(organization=request.org, name=name)
    request.session["project_id"] = project.id
    messages.success(request, f"Project {project.name} is ready. Create an API key to send events.")
    return redirect("settings:index")


@require_POST
def switch(request: HttpRequest) -> HttpResponse:
    """Switch the current organization or project; only to ones the user belongs to."""
    if not request.user.is_authenticated:
        return redirect("login")
    org_id = _int_or_none(request.POST.get("org"))
    if org_id and any(m.organization_id == org_id for m in request.memberships):
        request.session["org_id"] = org_id
        request.session.pop("project_id", None)
    project_id = _int_or_none(request.POST.get("project"))
    if project_id and any(p.id == project_id for p in request.projects):
        request.session["project_id"] = project_id
    wanted = request.POST.get("next", "")
    if wanted.startswith("/") and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return HttpResponseRedirect(wanted)
    return redirect("runs:list")  # never off site, never a URL name from the form


@require_POST
@require_capability("edit_redaction")
def redaction_save(request: HttpRequest) -> HttpResponse:
    """The current project's own redaction patterns for shared run pages."""
    text = "\n".join(
        line.strip() for line in request.POST.get("patterns", "").splitlines() if line.strip()
    )
    try:
        compile_project_patterns(text)
    except ValueError as error:
        messages.error(request, _sentence(error))
        return redirect(reverse("settings:index") + "#redaction")
    project = request.project
    _project_change(
        request, "redaction_patterns", text, details={"patterns": len(text.splitlines())}
    )
    messages.success(request, f"Shared pages of {project.name} now redact these patterns too.")
    return redirect(reverse("settings:index") + "#redaction")


@require_POST
@require_capability("manage_projects")
def retention_save(request: HttpRequest) -> HttpResponse:
    """How many days the current project keeps raw events; empty for the default."""
    back = reverse("settings:index") + "#retention"
    try:
        days = retention_parse(request.POST.get("days", ""))
    except ValueError as error:
        messages.error(request, _sentence(error))
        return redirect(back)
    project = request.project
    details = {"from": project.event_retention_days or "default", "to": days or "default"}
    _project_change(request, "event_retention_days", days, details=details)
    messages.success(
        request,
        f"{project.name} keeps raw events {retention_days(project)} days; "
        "runs, calls, errors and rollups are kept.",
    )
    return redirect(back)


@require_POST
@require_capability("manage_members", needs_project=False)
def member_save(request: HttpRequest) -> HttpResponse:
    username = request.POST.get("username", "").strip()
    role = request.POST.get("role", "")
    password = request.POST.get("password") or None
    if not username:
        messages.error(request, "Give the member's username.")
        return redirect("settings:index")
    if password:
        # Only for a new account: an owner must not take over a user's existing account,
        # which may belong to other organizations.
        if get_user_model().objects.filter(username=username).exists():
            messages.error(
                request,
                f"{username} already has an account, so its password stays as it is. "
                "Leave the password empty to give them a role.",
            )
            return redirect("settings:index")
        try:
            validate_password(password)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("settings:index")
    before = (
        Membership.objects.filter(organization=request.org, user__username=username)
        .values_list("role", flat=True)
        .first()
    )
    try:
        member_set(organization=request.org, username=username, role=role, password=password)
    except ValueError as error:
        messages.error(request, _sentence(error))
    else:
        if before != role:
            audit_request(
                request,
                "member.added" if before is None else "member.role_changed",
                f"user {username}",
                {"role": role} if before is None else {"from": before, "to": role},
            )
        messages.success(request, f"{username} is now {role}.")
    return redirect("settings:index")


@require_POST
@require_capability("manage_members", needs_project=False)
def member_delete(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership, pk=membership_id, organization=request.org)
    try:
        member_remove(membership=membership)
    except ValueError as error:
        messages.error(request, _sentence(error))
    else:
        audit_request(
            request,
            "member.removed",
            f"user {membership.user.username}",
            {"role": membership.role},
        )
        messages.success(request, f"{membership.user.username} was removed.")
    return redirect("settings:index")


@require_POST
@require_capability("manage_keys")
def key_create(request: HttpRequest) -> HttpResponse:
    scopes = request.POST.getlist("scopes")
    try:
        key, raw_key = apikey_create(
            project=request.project,
            scopes=scopes,
            name=request.POST.get("name", "").strip()[:200],
            created_by=request.user,
        )
    except ValueError as error:
        messages.error(request, _sentence(error))
        return redirect("settings:index")
    audit_request(
        request,
        "api_key.created",
        _key_target(key),
        {"name": key.name, "scopes": " ".join(key.scopes)},
    )
    # Shown once, on the next page only. A short-lived signed cookie carries it there, so
    # the raw key is never written to the database, not even to the session table.
    response = redirect("settings:index")
    response.set_signed_cookie(
        NEW_KEY_COOKIE,
        raw_key,
        max_age=NEW_KEY_SECONDS,
        path=NEW_KEY_PATH,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Strict",
    )
    return response


@require_POST
@require_capability("manage_keys")
def key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=key_id, project__organization=request.org)
    if key.revoked_at is None:
        apikey_revoke(key=key)
        audit_request(
            request,
            "api_key.revoked",
            _key_target(key),
            {"name": key.name},
        )
    messages.success(request, f"Key {key.prefix}… was revoked; calls with it now get 401.")
    return redirect("settings:index")


@csrf_exempt  # read only: any other method is a 405, not a CSRF page
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    report = health.check()
    body = report if health.may_see_details(request) else {"ok": report["ok"]}
    return JsonResponse(body, status=200 if report["ok"] else 503)


def _key_target(key: ApiKey) -> str:
    return f"key {key.prefix}… of project {key.project.slug}"


def _project_change(request: HttpRequest, field: str, value, *, details: dict) -> None:
    """Save one setting of the current project and record it in the audit log, if it
    changed."""
    project = request.project
    if getattr(project, field) == value:
        return
    setattr(project, field, value)
    project.save(update_fields=[field])
    action = {"redaction_patterns": "redaction", "event_retention_days": "retention"}[field]
    audit_request(request, f"project.{action}_changed", f"project {project.slug}", details)


def _sentence(error: Exception) -> str:
    # Not str.capitalize(): it lowercases the rest, turning "got 'OWNER'" into "got 'owner'".
    text = str(error)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None
