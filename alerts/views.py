"""The Alerts page and its forms. Owners and developers edit; support and finance see.
Refunds rules are finance data: only members who see revenue see or make them."""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from alerts import selectors, services
from alerts.deliveries import delivery_send, delivery_test_create
from alerts.models import Channel, Delivery, Incident, Kind, Rule
from runs.protocol import ENVIRONMENTS
from runs.selectors.runs import run_agent_names
from studio.audit import audit_request
from studio.tenancy import can, require_capability

NEW_SECRET_COOKIE = "studio_new_webhook_secret"  # noqa: S105 - a cookie name
NEW_SECRET_SECONDS = 120
MUTE_FOR = {"1h": 1, "4h": 4, "24h": 24, "7d": 168}


def _sees_revenue(request: HttpRequest) -> bool:
    return can(request.role, "view_revenue")


@require_GET
@require_capability("view_alerts")
def alerts_index(request: HttpRequest) -> HttpResponse:
    project, sees_revenue = request.project, _sees_revenue(request)
    kinds = [
        (k, label, services.DEFAULTS[k])
        for k, label in Kind.choices
        if sees_revenue or k != Kind.REFUNDS
    ]
    response = render(
        request,
        "alerts/index.html",
        {
            "rules": selectors.rule_rows(project, sees_revenue=sees_revenue, now=timezone.now()),
            "open_incidents": selectors.incidents_for(
                project, sees_revenue=sees_revenue, status=Incident.Status.OPEN
            ),
            "resolved_incidents": selectors.incidents_for(
                project, sees_revenue=sees_revenue, status=Incident.Status.RESOLVED
            ),
            "channels": selectors.channels_for(project),
            "deliveries": selectors.recent_deliveries(project, sees_revenue=sees_revenue),
            "kinds": kinds,
            "agents": run_agent_names(project=project),
            "environments": ENVIRONMENTS,
            "mute_for": MUTE_FOR,
            "new_secret": request.get_signed_cookie(
                NEW_SECRET_COOKIE, None, max_age=NEW_SECRET_SECONDS
            ),
        },
    )
    response.delete_cookie(NEW_SECRET_COOKIE, path="/alerts/")
    return response


@require_POST
@require_capability("manage_alerts")
def rule_create(request: HttpRequest) -> HttpResponse:
    post = request.POST
    if post.get("kind") == Kind.REFUNDS and not _sees_revenue(request):
        messages.error(request, "Refunds rules need access to revenue (owner or finance).")
        return redirect("alerts:index")
    try:
        rule = services.rule_create(
            project=request.project,
            kind=post.get("kind", ""),
            channels=_channels(request),
            created_by=request.user,
            **_rule_form(post),
        )
    except ValueError as error:
        messages.error(request, _sentence(error))
    else:
        _audit_rule(request, rule, "alert_rule.created")
        messages.success(request, f"Rule {rule.name} is on; it is checked every minute.")
    return redirect("alerts:index")


@require_http_methods(["GET", "POST"])
@require_capability("manage_alerts")
def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = _rule(request, rule_id)
    if request.method == "POST":
        try:
            muted_until = _parse_time(request.POST.get("muted_until", ""))
            with transaction.atomic():
                services.rule_update(
                    rule=rule, channels=_channels(request), **_rule_form(request.POST)
                )
                services.rule_mute(rule=rule, until=muted_until)
        except ValueError as error:
            messages.error(request, _sentence(error))
            return redirect("alerts:rule_edit", rule_id=rule.pk)
        _audit_rule(request, rule, "alert_rule.changed")
        messages.success(request, f"Rule {rule.name} was saved.")
        return redirect("alerts:index")
    return render(
        request,
        "alerts/rule_edit.html",
        {
            "rule": rule,
            "condition": selectors.rule_condition(rule),
            "channels": selectors.channels_for(request.project),
            "chosen": set(rule.channels.values_list("pk", flat=True)),
            "agents": sorted({*run_agent_names(project=request.project), rule.agent_name} - {""}),
            "environments": ENVIRONMENTS,
        },
    )


def _rule_form(post) -> dict:
    return {
        "name": post.get("name", ""),
        "threshold": post.get("threshold"),
        "window_minutes": post.get("window_minutes"),
        "min_runs": post.get("min_runs"),
        "agent_name": post.get("agent", ""),
        "environment": post.get("environment", ""),
        "currency": post.get("currency", ""),
    }


def _channels(request: HttpRequest) -> list[Channel]:
    ids = _ids(request.POST.getlist("channels"))
    return list(Channel.objects.filter(project=request.project, pk__in=ids))


@require_POST
@require_capability("manage_alerts")
def rule_mute(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = _rule(request, rule_id)
    until = _mute_until(request.POST)
    if until is None or until <= timezone.now():
        messages.error(request, "Choose how long to mute, or a time in the future.")
        return redirect("alerts:index")
    services.rule_mute(rule=rule, until=until)
    _audit_rule(request, rule, "alert_rule.muted", until=f"{until:%Y-%m-%d %H:%M} UTC")
    messages.success(request, f"{rule.name} is muted until {until:%Y-%m-%d %H:%M} UTC.")
    return redirect("alerts:index")


@require_POST
@require_capability("manage_alerts")
def rule_unmute(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = _rule(request, rule_id)
    services.rule_mute(rule=rule, until=None)
    _audit_rule(request, rule, "alert_rule.unmuted")
    messages.success(request, f"{rule.name} notifies again.")
    return redirect("alerts:index")


@require_POST
@require_capability("manage_alerts")
def rule_toggle(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = _rule(request, rule_id)
    services.rule_set_enabled(rule=rule, enabled=not rule.enabled)
    _audit_rule(request, rule, "alert_rule.turned_on" if rule.enabled else "alert_rule.turned_off")
    messages.success(request, f"{rule.name} is {'on' if rule.enabled else 'off'}.")
    return redirect("alerts:index")


@require_POST
@require_capability("manage_alerts")
def rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = _rule(request, rule_id)
    _audit_rule(request, rule, "alert_rule.deleted")
    rule.delete()
    messages.success(request, f"Rule {rule.name} and its incidents were deleted.")
    return redirect("alerts:index")


@require_POST
@require_capability("manage_alerts")
def channel_create(request: HttpRequest) -> HttpResponse:
    try:
        channel, created = services.channel_get_or_create(
            project=request.project,
            type_=request.POST.get("type", ""),
            target=request.POST.get("target", ""),
        )
    except ValueError as error:
        messages.error(request, _sentence(error))
        return redirect("alerts:index")
    response = redirect("alerts:index")
    if created:
        _audit_channel(request, channel, "alert_channel.added")
    if not created:
        messages.info(request, f"{channel.target} is already a channel.")
    elif channel.secret:
        # Shown once, on the next page only, as API keys are (studio.views.key_create).
        response.set_signed_cookie(
            NEW_SECRET_COOKIE,
            f"{channel.target}\n{channel.secret}",
            max_age=NEW_SECRET_SECONDS,
            path="/alerts/",
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Strict",
        )
    else:
        messages.success(request, f"Alerts can now mail {channel.target}.")
    return response


@require_POST
@require_capability("manage_alerts")
def channel_delete(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = get_object_or_404(Channel, pk=channel_id, project=request.project)
    _audit_channel(request, channel, "alert_channel.removed")
    channel.delete()
    messages.success(request, f"{channel.target} gets no more alerts.")
    return redirect("alerts:index")


@require_POST
@require_capability("manage_alerts")
def channel_test(request: HttpRequest, channel_id: int) -> HttpResponse:
    """Send a test message now, one attempt, and say how it went."""
    channel = get_object_or_404(Channel, pk=channel_id, project=request.project)
    delivery = delivery_send(
        delivery_test_create(channel=channel, user_name=request.user.username).pk
    )
    if delivery is None:
        return redirect("alerts:index")
    if delivery.status == Delivery.Status.SENT:
        answer = f" (HTTP {delivery.status_code})" if delivery.status_code else ""
        messages.success(request, f"Test sent to {channel.target}{answer}.")
    else:
        # A test is not retried: the person pressing the button wants the answer now.
        Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.FAILED)
        messages.error(request, f"Test to {channel.target} failed: {delivery.last_error}")
    return redirect("alerts:index")


def _audit_rule(request: HttpRequest, rule: Rule, action: str, **details: str) -> None:
    audit_request(
        request,
        action,
        f"alert rule {rule.name}",
        {"kind": rule.kind, "project": request.project.slug, **details},
    )


def _audit_channel(request: HttpRequest, channel: Channel, action: str) -> None:
    # A webhook URL's path is often its secret (Slack's are): the log keeps only the host.
    where = (
        channel.target if channel.type == Channel.Type.EMAIL else urlsplit(channel.target).netloc
    )
    audit_request(
        request, action, f"{channel.type} channel {where}", {"project": request.project.slug}
    )


def _rule(request: HttpRequest, rule_id: int) -> Rule:
    rules = selectors.visible_rules(request.project, sees_revenue=_sees_revenue(request))
    return get_object_or_404(rules, pk=rule_id)


def _mute_until(post) -> datetime | None:
    if post.get("for") in MUTE_FOR:
        return timezone.now() + timedelta(hours=MUTE_FOR[post["for"]])
    try:
        return _parse_time(post.get("until") or "")
    except ValueError:
        return None


def _parse_time(value: str) -> datetime | None:
    """A time from a form (datetime-local gives no zone: UTC, as the page shows);
    empty means none. ValueError when it is not a time."""
    value = value.strip()
    if not value:
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(f"muted until: {value[:40]!r} is not a time")
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


def _ids(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit()]


def _sentence(error: Exception) -> str:
    text = str(error)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
