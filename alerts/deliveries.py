"""Deliveries: one row per notification and channel, sent by a worker, retried with
backoff, and logged (attempts, status code, error) for the Alerts page.

A delivery row is written in the same transaction as the incident change, and the task
is enqueued on commit; `deliveries_due` lets the evaluation pass pick up a row whose
message Redis lost, as the ingest sweeper does for batches.
"""

from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from alerts import channels
from alerts.models import Channel, Delivery, Incident, Kind, Rule

BACKOFF_SECONDS = (10, 30, 120, 600, 1800)  # after the 1st, 2nd, … failed attempt
LOST_AFTER = timedelta(minutes=2)  # due this long with no attempt: its message was lost
DIGEST_SHOWN = 5  # incident titles named in a digest message


def backoff(attempts: int) -> int:
    return BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1]


def deliveries_for(*, rule: Rule, incident: Incident, event: str, now: datetime) -> list[int]:
    """Queue the incident's `event` to each of the rule's channels; their ids."""
    payload = channels.message_payload(
        event=event,
        project=rule.project.name,
        rule=rule.name,
        title=incident.title,
        summary=incident.summary,
        link=incident.link,
    )
    return _queue(rule, incident, event, payload, now)


def digest_for(*, rule: Rule, incidents: list[Incident], event: str, now: datetime) -> list[int]:
    """One message for many incidents of a rule that changed in the same pass (a burst
    of new error groups), instead of one each; filed under the first incident."""
    shown = [incident.title for incident in incidents[:DIGEST_SHOWN]]
    more = len(incidents) - len(shown)
    payload = channels.message_payload(
        event=event,
        project=rule.project.name,
        rule=rule.name,
        title=f"{len(incidents)} incidents {event}: {rule.name}",
        summary="; ".join(shown) + (f"; and {more} more" if more else ""),
        link=_digest_link(rule),
    )
    return _queue(rule, incidents[0], event, payload, now)


def _digest_link(rule: Rule) -> str:
    if rule.kind == Kind.NEW_ERROR_GROUP:
        query = f"?{urlencode({'agent': rule.agent_name})}" if rule.agent_name else ""
        return f"{reverse('runs:errors')}{query}"
    return reverse("alerts:index")


def _queue(rule: Rule, incident: Incident, event: str, payload: dict, now: datetime) -> list[int]:
    rows = [
        Delivery(
            project_id=rule.project_id,
            channel=channel,
            incident=incident,
            event=event,
            payload=payload,
            next_attempt_at=now,
        )
        for channel in rule.channels.all()
    ]
    return [row.pk for row in Delivery.objects.bulk_create(rows)]


def delivery_test_create(*, channel: Channel, user_name: str) -> Delivery:
    """A test message to one channel (the "Send test" button)."""
    payload = channels.message_payload(
        event="test",
        project=channel.project.name,
        rule="Test",
        title=f"Test notification from Charm Studio, sent by {user_name}",
        summary=f"If you can read this, {channel.get_type_display().lower()} alerts reach you.",
        link="/alerts/",
    )
    return Delivery.objects.create(
        project_id=channel.project_id,
        channel=channel,
        event="test",
        payload=payload,
        next_attempt_at=timezone.now(),
    )


def delivery_send(delivery_id: int) -> Delivery | None:
    """Make one attempt at a pending delivery and record it. Returns the delivery
    (None when it is not pending or another worker holds it): `status` pending with a
    later `next_attempt_at` means "retry then"."""
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("channel")
            .filter(pk=delivery_id, status=Delivery.Status.PENDING)
            .first()
        )
        if delivery is None:
            return None
        result = channels.send(delivery.channel, delivery.payload)
        _record(delivery, result)
    return delivery


def _record(delivery: Delivery, result: channels.SendResult) -> None:
    now = timezone.now()
    delivery.attempts += 1
    delivery.status_code = result.status_code
    delivery.last_error = result.error
    if result.ok:
        delivery.status = Delivery.Status.SENT
        delivery.sent_at = now
    elif delivery.attempts >= settings.ALERT_DELIVERY_ATTEMPTS:
        delivery.status = Delivery.Status.FAILED
    else:
        delivery.next_attempt_at = now + timedelta(seconds=backoff(delivery.attempts))
    delivery.save()


def deliveries_due(now: datetime | None = None) -> list[int]:
    """Pending deliveries whose retry time passed long enough ago that their task was
    likely lost."""
    now = now or timezone.now()
    return list(
        Delivery.objects.filter(
            status=Delivery.Status.PENDING, next_attempt_at__lt=now - LOST_AFTER
        ).values_list("pk", flat=True)[:500]
    )


def deliveries_send_now(ids: list[int]) -> None:
    """Send in this process, retrying inline without waiting (for the command line)."""
    for delivery_id in ids:
        for _ in range(settings.ALERT_DELIVERY_ATTEMPTS):
            delivery = delivery_send(delivery_id)
            if delivery is None or delivery.status != Delivery.Status.PENDING:
                break
            Delivery.objects.filter(pk=delivery_id).update(next_attempt_at=timezone.now())
