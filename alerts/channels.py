"""Sending one message to one channel: email through Django's mail settings, or a
signed JSON webhook. Pure message building is kept apart from the sending.

Webhook requests carry `X-Charm-Signature: t=<unix seconds>,v1=<hex>`, where v1 is
HMAC-SHA256 of `<t>.<body>` under the channel's secret: the receiver recomputes it
and rejects old timestamps, so a captured request cannot be replayed later.
"""

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail

from alerts.models import Channel

SIGNATURE_HEADER = "X-Charm-Signature"
USER_AGENT = "CharmStudio-Alerts/1"


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status_code: int | None = None
    error: str = ""


def message_payload(
    *, event: str, project: str, rule: str, title: str, summary: str, link: str
) -> dict:
    """The notification as stored and sent. `text` is what Slack shows; `link` is
    absolute, to the filtered runs list, the error group or the run."""
    url = f"{settings.STUDIO_BASE_URL}{link}"
    headline = {"opened": "Alert", "resolved": "Resolved", "test": "Test"}[event]
    return {
        "text": f"[{headline}] {title}\n{summary}\n{url}",
        "event": event,
        "project": project,
        "rule": rule,
        "title": title,
        "summary": summary,
        "link": url,
    }


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def send(channel: Channel, payload: dict) -> SendResult:
    if channel.type == Channel.Type.EMAIL:
        return email_send(channel.target, payload)
    return webhook_send(channel.target, channel.secret, payload)


def email_send(address: str, payload: dict) -> SendResult:
    subject = payload["text"].split("\n", 1)[0][:200]
    try:
        send_mail(subject, payload["text"], None, [address], fail_silently=False)
    except Exception as error:  # smtplib's errors are many; each means "try again later"
        return SendResult(ok=False, error=f"{type(error).__name__}: {error}"[:1000])
    return SendResult(ok=True)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a new address: urllib would re-send a POST as a bare
    GET elsewhere and call that delivered."""

    def redirect_request(self, *args, **kwargs) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def webhook_send(url: str, secret: str, payload: dict) -> SendResult:
    body = json.dumps(payload, ensure_ascii=False).encode()
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked on save
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: signature(secret, int(time.time()), body),
        },
    )
    try:
        with _opener.open(request, timeout=settings.ALERT_WEBHOOK_TIMEOUT_SECONDS) as response:
            return SendResult(ok=True, status_code=response.status)
    except urllib.error.HTTPError as error:
        return SendResult(ok=False, status_code=error.code, error=f"HTTP {error.code}")
    except (urllib.error.URLError, OSError, ValueError) as error:
        return SendResult(ok=False, error=f"{type(error).__name__}: {error}"[:1000])
