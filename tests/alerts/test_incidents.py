"""From ingested runs to incidents and notifications: open once, stay open quietly,
resolve with one message; muted rules keep incidents but send nothing."""

import hashlib
import hmac
from datetime import timedelta

from django.utils import timezone

from alerts.deliveries import deliveries_send_now
from alerts.evaluation import alerts_evaluate
from alerts.models import Delivery, Incident
from tests.conftest import apply_now
from tests.runs.test_views_run_list import run_events


def runs(project, *, failed: int, succeeded: int, agent="invoice-bot", prefix="r") -> None:
    specs = [("failed", n) for n in range(failed)] + [("succeeded", n) for n in range(succeeded)]
    apply_now(
        project,
        [
            e
            for status, n in specs
            for e in run_events(
                f"{prefix}_{status}_{n}", status=status, agent=agent, started=120, duration=5
            )
        ],
    )


def evaluate_and_send(now=None):
    result = alerts_evaluate(now=now or timezone.now())
    deliveries_send_now(result.delivery_ids)
    return result


def test_a_failing_agent_opens_one_incident_and_one_signed_webhook(
    project, add_rule, webhook_receiver
):
    rule = add_rule(
        "failure_rate", threshold="50", min_runs=5, window_minutes=60,
        webhooks=[webhook_receiver.url],
    )  # fmt: skip
    runs(project, failed=8, succeeded=2)

    evaluate_and_send()
    evaluate_and_send()  # a minute later, still failing: no second message
    evaluate_and_send()

    incident = Incident.objects.get(rule=rule)
    assert incident.status == "open"
    assert "80.0%" in incident.title
    assert "8 of 10 finished runs failed" in incident.summary
    assert len(webhook_receiver.requests) == 1
    (request,) = webhook_receiver.requests
    body = webhook_receiver.bodies()[0]
    assert body["event"] == "opened"
    assert body["text"].startswith("[Alert] Failure rate 80.0%")
    assert "/runs/?agent=" not in body["link"]  # no agent filter on the rule
    assert "/runs/?status=failed&since=" in body["link"]
    # The signature verifies with the channel's secret over "<t>.<body>".
    secret = rule.channels.get().secret
    stamp, v1 = (
        part.split("=", 1)[1] for part in request["headers"]["X-Charm-Signature"].split(",")
    )
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + request["body"], hashlib.sha256)
    assert hmac.compare_digest(v1, expected.hexdigest())
    assert Delivery.objects.get().status_code == 200


def test_the_incident_resolves_with_a_message_once_the_rate_has_been_low_a_while(
    project, add_rule, webhook_receiver, settings
):
    settings.ALERT_RESOLVE_AFTER_SECONDS = 120
    rule = add_rule("failure_rate", threshold="50", min_runs=5, webhooks=[webhook_receiver.url])
    runs(project, failed=6, succeeded=4)
    now = timezone.now()
    evaluate_and_send(now)

    runs(project, failed=0, succeeded=30, prefix="later")  # 6 of 40: 15%
    evaluate_and_send(now + timedelta(seconds=60))  # clear, but not for long enough
    assert Incident.objects.get(rule=rule).status == "open"
    evaluate_and_send(now + timedelta(seconds=200))

    incident = Incident.objects.get(rule=rule)
    assert incident.status == "resolved"
    assert [b["event"] for b in webhook_receiver.bodies()] == ["opened", "resolved"]
    assert webhook_receiver.bodies()[1]["text"].startswith("[Resolved]")


def test_a_condition_that_flaps_stays_one_open_incident(project, add_rule, webhook_receiver):
    rule = add_rule("failure_rate", threshold="50", min_runs=5, webhooks=[webhook_receiver.url])
    runs(project, failed=6, succeeded=4)
    now = timezone.now()
    evaluate_and_send(now)
    # Clear for a minute, then failing again: within the resolve delay, so no messages.
    runs(project, failed=0, succeeded=10, prefix="ok")
    evaluate_and_send(now + timedelta(seconds=60))
    runs(project, failed=20, succeeded=0, prefix="bad")
    evaluate_and_send(now + timedelta(seconds=120))

    assert Incident.objects.filter(rule=rule).count() == 1
    assert Incident.objects.get(rule=rule).clear_since is None
    assert len(webhook_receiver.requests) == 1


def test_too_few_runs_do_not_fire_and_the_agent_filter_counts_only_that_agent(project, add_rule):
    few = add_rule("failure_rate", threshold="10", min_runs=20)
    other_agent = add_rule("failure_rate", threshold="10", min_runs=1, agent_name="triage-bot")
    runs(project, failed=5, succeeded=5)

    alerts_evaluate()

    assert not Incident.objects.filter(rule__in=[few, other_agent]).exists()
    runs(project, failed=1, succeeded=0, agent="triage-bot", prefix="t")
    alerts_evaluate()
    incident = Incident.objects.get(rule=other_agent)
    assert "triage-bot" in incident.title
    assert "agent=triage-bot" in incident.link


def test_a_muted_rule_keeps_its_incident_but_sends_nothing_until_the_mute_ends(
    project, add_rule, webhook_receiver
):
    rule = add_rule("failure_rate", threshold="50", min_runs=5, webhooks=[webhook_receiver.url])
    rule.muted_until = timezone.now() + timedelta(hours=1)
    rule.save()
    runs(project, failed=9, succeeded=1)

    evaluate_and_send()

    incident = Incident.objects.get(rule=rule)
    assert incident.status == "open" and incident.muted
    assert webhook_receiver.requests == []
    assert not Delivery.objects.exists()


def test_an_incident_still_firing_when_the_mute_ends_is_notified_then(
    project, add_rule, webhook_receiver
):
    rule = add_rule("failure_rate", threshold="50", min_runs=5, webhooks=[webhook_receiver.url])
    now = timezone.now()
    rule.muted_until = now + timedelta(minutes=30)
    rule.save()
    runs(project, failed=9, succeeded=1)
    evaluate_and_send(now)

    evaluate_and_send(now + timedelta(minutes=31))
    evaluate_and_send(now + timedelta(minutes=32))

    assert [b["event"] for b in webhook_receiver.bodies()] == ["opened"]
    assert Incident.objects.get().muted is False


def test_a_disabled_rule_is_not_evaluated(project, add_rule):
    rule = add_rule("failure_rate", threshold="0", min_runs=1)
    rule.enabled = False
    rule.save()
    runs(project, failed=3, succeeded=0)

    result = alerts_evaluate()

    assert result.rules == 0
    assert not Incident.objects.exists()


def test_an_email_channel_mails_the_incident_with_its_link(project, add_rule, smtp_inbox):
    add_rule("failure_rate", threshold="50", min_runs=5, emails=["oncall@example.com"])
    runs(project, failed=7, succeeded=3)

    evaluate_and_send()

    (mail,) = smtp_inbox
    assert mail["X-Rcpt-To"] == "oncall@example.com"
    assert mail["Subject"].startswith("[Alert] Failure rate 70.0%")
    body = mail.get_payload(decode=True).decode()
    assert "7 of 10 finished runs failed" in body
    assert "http://localhost:8000/runs/?status=failed&since=" in body
