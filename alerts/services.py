"""Writes: rules, channels, muting. Each validates its input and raises ValueError
with a message fit to show the user."""

import secrets
from datetime import datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from alerts.models import Channel, Kind, Rule
from billing.currencies import minor_units
from runs.protocol import ENVIRONMENTS
from studio.models import Project

# What a new rule of each kind uses when the form leaves a value out.
DEFAULTS: dict[str, dict] = {
    Kind.FAILURE_RATE: {"threshold": "20", "window_minutes": 60},
    Kind.NEW_ERROR_GROUP: {"threshold": "0", "window_minutes": 60},
    Kind.STALLED: {"threshold": "1", "window_minutes": 15},
    Kind.COST_SPIKE: {"threshold": "3", "window_minutes": 60},
    Kind.REFUNDS: {"threshold": "100", "window_minutes": 1440},
    Kind.INGEST: {"threshold": "1", "window_minutes": 5},
}


def rule_create(
    *, project: Project, kind: str, channels: list[Channel] = (), created_by=None, **fields
) -> Rule:
    """A new rule; `fields` as `rule_fields` takes them, defaults by kind."""
    if kind not in Kind.values:
        raise ValueError(f"kind: use one of {', '.join(Kind.values)}; got {kind!r}")
    rule = Rule.objects.create(
        project=project, kind=kind, created_by=created_by, **rule_fields(kind=kind, **fields)
    )
    rule.channels.set(channels)
    return rule


def rule_update(*, rule: Rule, channels: list[Channel], **fields) -> Rule:
    """Change what a rule watches and whom it tells (its kind stays)."""
    for name, value in rule_fields(kind=rule.kind, **fields).items():
        setattr(rule, name, value)
    rule.save()
    rule.channels.set(channels)
    return rule


def rule_fields(
    *,
    kind: str,
    threshold: str | Decimal | None = None,
    window_minutes: int | str | None = None,
    min_runs: int | str | None = None,
    name: str = "",
    agent_name: str = "",
    environment: str = "",
    currency: str = "",
) -> dict:
    """A rule's fields checked and with the kind's defaults for what is left out;
    ValueError names the field that cannot be used."""
    defaults = DEFAULTS[kind]
    environment = environment.strip()
    if environment and environment not in ENVIRONMENTS:
        raise ValueError(f"environment: use one of {', '.join(ENVIRONMENTS)}")
    currency = currency.strip().upper()
    if currency and minor_units(currency) is None:
        raise ValueError(f"currency: {currency!r} is not an ISO 4217 currency; like USD")
    return {
        "name": (name.strip() or Kind(kind).label)[:200],
        "threshold": _threshold(threshold, defaults["threshold"]),
        "window_minutes": _whole(window_minutes, defaults["window_minutes"], "window", 1, 43200),
        "min_runs": _whole(min_runs, 10, "minimum runs", 0, 10**9),
        "agent_name": agent_name.strip()[:200],
        "environment": environment,
        "currency": currency,
    }


def channel_get_or_create(*, project: Project, type_: str, target: str) -> tuple[Channel, bool]:
    """The project's channel to `target`; a new webhook gets a fresh secret."""
    target = target.strip()
    if type_ == Channel.Type.EMAIL:
        try:
            validate_email(target)
        except ValidationError:
            raise ValueError(f"email: {target[:100]!r} is not an email address") from None
    elif type_ == Channel.Type.WEBHOOK:
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.netloc or len(target) > 500:
            raise ValueError("webhook: an http:// or https:// URL of at most 500 characters")
    else:
        raise ValueError("channel: email or webhook")
    secret = secrets.token_hex(24) if type_ == Channel.Type.WEBHOOK else ""
    return Channel.objects.get_or_create(
        project=project, type=type_, target=target, defaults={"secret": secret}
    )


def rule_mute(*, rule: Rule, until: datetime | None) -> None:
    rule.muted_until = until
    rule.save(update_fields=["muted_until"])


def rule_set_enabled(*, rule: Rule, enabled: bool) -> None:
    rule.enabled = enabled
    rule.save(update_fields=["enabled"])


def _threshold(value, default: str) -> Decimal:
    if value in (None, ""):
        value = default
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"threshold: a number; got {str(value)[:40]!r}") from None
    if not number.is_finite() or number < 0 or number >= 10**14:
        raise ValueError("threshold: a number from 0 up")
    return number


def _whole(value, default: int, label: str, low: int, high: int) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{label}: a whole number; got {str(value)[:40]!r}") from None
    if not low <= number <= high:
        raise ValueError(f"{label}: from {low} to {high}")
    return number
