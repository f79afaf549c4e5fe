"""Writes and checks for share links: create, revoke, resolve a token.

A link's token is 256 random bits, signed with the SECRET_KEY (`<random>.<signature>`)
so a made-up token is turned away before any query; only the SHA-256 of the random
part is stored. Rotating SECRET_KEY ends every link.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.core import signing
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from runs.models import Run
from shares.models import ShareLink
from studio.audit import audit_record
from studio.tenancy import can

MIN_HOURS = 1
MAX_HOURS = 7 * 24
DEFAULT_HOURS = 24
HOUR_CHOICES = ((1, "1 hour"), (24, "1 day"), (72, "3 days"), (168, "7 days"))
PREFIX_LENGTH = 8
_SIGNER = signing.Signer(salt="shares.link", sep=".")


def _hash(raw: str) -> str:
    # 256 random bits: a plain SHA-256 is enough, as for API keys.
    return hashlib.sha256(raw.encode()).hexdigest()


def sharelink_create(*, run: Run, created_by, hours: int = DEFAULT_HOURS) -> tuple[ShareLink, str]:
    """Make a link to `run` lasting `hours` (1 to 168); returns it with its token,
    which is never stored."""
    if not MIN_HOURS <= hours <= MAX_HOURS:
        raise ValueError(f"a share link lasts {MIN_HOURS} to {MAX_HOURS} hours; got {hours}")
    raw = secrets.token_urlsafe(32)
    with transaction.atomic():
        link = ShareLink.objects.create(
            project_id=run.project_id,
            run=run,
            token_hash=_hash(raw),
            prefix=raw[:PREFIX_LENGTH],
            created_by=created_by,
            expires_at=timezone.now() + timedelta(hours=hours),
        )
        audit_record(
            organization=run.project.organization,
            actor=created_by,
            action="share_link.created",
            target=f"run {run.run_id}",
            details={
                "link": link.prefix,
                "project": run.project.slug,
                "hours": hours,
                "expires": f"{link.expires_at:%Y-%m-%d %H:%M} UTC",
            },
        )
    return link, _SIGNER.sign(raw)


def sharelink_revoke(*, link: ShareLink, actor) -> bool:
    """End `link` now; False when it had already been revoked."""
    with transaction.atomic():
        ended = ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_by=actor if _is_user(actor) else None
        )
        if not ended:
            return False
        audit_record(
            organization=link.project.organization,
            actor=actor,
            action="share_link.revoked",
            target=f"run {link.run.run_id}",
            details={"link": link.prefix, "project": link.project.slug},
        )
    link.refresh_from_db(fields=["revoked_at", "revoked_by"])
    return True


def may_revoke(*, user, role: str | None, link: ShareLink) -> bool:
    """The link's creator, or an owner of its organization."""
    return can(role, "revoke_any_share") or (
        can(role, "share_runs") and link.created_by_id is not None and link.created_by_id == user.pk
    )


@dataclass(frozen=True)
class Resolved:
    link: ShareLink | None
    problem: str = ""  # "unknown", "expired" or "revoked"


def sharelink_resolve(token: str) -> Resolved:
    """The link a token names, if it is still good. One query, none for a forgery."""
    try:
        raw = _SIGNER.unsign(token)
    except signing.BadSignature:
        return Resolved(None, "unknown")
    link = ShareLink.objects.select_related("project", "run").filter(token_hash=_hash(raw)).first()
    if link is None:
        return Resolved(None, "unknown")
    if link.state != "active":
        return Resolved(None, link.state)
    return Resolved(link)


def sharelink_for_token(token: str) -> ShareLink | None:
    """The link of a token, whatever its state (to revoke it)."""
    try:
        raw = _SIGNER.unsign(token)
    except signing.BadSignature:
        return None
    return (
        ShareLink.objects.select_related("project__organization", "run")
        .filter(token_hash=_hash(raw))
        .first()
    )


def sharelink_viewed(*, link: ShareLink) -> None:
    ShareLink.objects.filter(pk=link.pk).update(
        view_count=F("view_count") + 1, last_viewed_at=timezone.now()
    )


def share_path(token: str) -> str:
    return reverse("shares:view", args=[token])


def token_from_link(text: str) -> str:
    """The token of a pasted link: a whole URL, a path, or the token alone."""
    path = urlsplit(text.strip()).path.rstrip("/")
    return path.rsplit("/", 1)[-1]


def _is_user(actor) -> bool:
    return actor is not None and getattr(actor, "is_authenticated", False)
