"""Delivering notifications: retries with growing waits, a log of status codes, giving up
after the last attempt, and a real Celery worker sending what a pass queued."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from alerts import tasks
from alerts.deliveries import delivery_send, delivery_test_create
from alerts.evaluation import alerts_evaluate
from alerts.models import Delivery
from alerts.services import channel_get_or_create
from alerts.tasks import enqueue_deliveries
from studio.celery import app
from tests.conftest import wait_for
from tests.runs.test_views_run_list import make_runs


@pytest.fixture
def webhook(project, webhook_receiver):
    return channel_get_or_create(project=project, type_="webhook", target=webhook_receiver.url)[0]


def test_a_webhook_answering_500_is_retried_later_and_each_answer_is_logged(
    webhook, webhook_receiver
):
    webhook_receiver.answers = [500, 503, 200]
    delivery = delivery_test_create(channel=webhook, user_name="olivia")

    first = delivery_send(delivery.pk)
    assert (first.status, first.status_code, first.attempts) == ("pending", 500, 1)
    first_wait = (first.next_attempt_at - timezone.now()).total_seconds()
    second = delivery_send(delivery.pk)
    second_wait = (second.next_attempt_at - timezone.now()).total_seconds()
    third = delivery_send(delivery.pk)

    assert 5 < first_wait < second_wait
    assert (second.status_code, second.last_error) == (503, "HTTP 503")
    assert (third.status, third.status_code, third.attempts) == ("sent", 200, 3)
    assert len(webhook_receiver.requests) == 3
    assert delivery_send(delivery.pk) is None  # sent: never sent again


def test_a_delivery_gives_up_after_the_last_attempt(webhook, webhook_receiver, settings):
    settings.ALERT_DELIVERY_ATTEMPTS = 2
    webhook_receiver.answers = [500]
    delivery = delivery_test_create(channel=webhook, user_name="olivia")

    delivery_send(delivery.pk)
    delivery_send(delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.status_code) == ("failed", 2, 500)


def test_an_unreachable_webhook_logs_the_error(project):
    channel, _ = channel_get_or_create(
        project=project, type_="webhook", target="http://127.0.0.1:9/nothing-listens"
    )
    delivery = delivery_send(delivery_test_create(channel=channel, user_name="olivia").pk)

    assert delivery.status == "pending" and delivery.status_code is None
    assert "Connection refused" in delivery.last_error


@pytest.mark.worker
def test_a_worker_sends_the_webhook_a_pass_queued(
    worker, project, webhook, webhook_receiver, add_rule
):
    add_rule("failure_rate", threshold="50", min_runs=2, webhooks=[webhook_receiver.url])
    make_runs(project, *({"run_id": f"f{n}", "status": "failed", "started": 60} for n in range(3)))
    worker()

    result = alerts_evaluate()
    enqueue_deliveries(result.delivery_ids)  # sent when not in a transaction

    wait_for(lambda: webhook_receiver.requests, timeout=60)
    assert webhook_receiver.bodies()[0]["event"] == "opened"
    wait_for(lambda: Delivery.objects.filter(status="sent").exists())


def test_the_beat_task_evaluates_and_queues_one_send_per_notification(
    project, add_rule, webhook_receiver, django_capture_on_commit_callbacks, monkeypatch
):
    add_rule("failure_rate", threshold="50", min_runs=2, webhooks=[webhook_receiver.url])
    make_runs(project, *({"run_id": f"f{n}", "status": "failed", "started": 60} for n in range(3)))
    queued = []
    monkeypatch.setattr(tasks.send_delivery, "delay", queued.append)

    with django_capture_on_commit_callbacks(execute=True):
        summary = tasks.evaluate_alerts()

    assert summary == {"rules": 1, "opened": 1, "resolved": 0}
    assert queued == list(Delivery.objects.values_list("pk", flat=True))
    entry = app.conf.beat_schedule["evaluate-alerts"]
    assert (entry["task"], entry["schedule"]) == (tasks.evaluate_alerts.name, 60.0)


def test_the_beat_task_picks_up_a_delivery_whose_message_was_lost(
    webhook, django_capture_on_commit_callbacks, monkeypatch
):
    lost = delivery_test_create(channel=webhook, user_name="olivia")
    Delivery.objects.filter(pk=lost.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=5)
    )
    queued = []
    monkeypatch.setattr(tasks.send_delivery, "delay", queued.append)

    with django_capture_on_commit_callbacks(execute=True):
        tasks.evaluate_alerts()

    assert queued == [lost.pk]


def test_the_signature_check_in_the_docs_accepts_a_real_delivery_and_nothing_else(
    webhook, webhook_receiver
):
    docs = (Path(__file__).resolve().parents[2] / "docs" / "alerts.md").read_text()
    namespace: dict = {}
    exec(re.search(r"```python\n(.*?)```", docs, re.S).group(1), namespace)  # noqa: S102
    verify = namespace["verify"]
    delivery_send(delivery_test_create(channel=webhook, user_name="olivia").pk)
    (request,) = webhook_receiver.requests
    header = request["headers"]["X-Charm-Signature"]

    assert verify(webhook.secret, header, request["body"])
    assert not verify(webhook.secret, header, request["body"] + b" ")
    assert not verify("another-secret", header, request["body"])


def test_a_redirect_is_not_followed_and_counts_as_a_failed_attempt(webhook, webhook_receiver):
    webhook_receiver.answers = [302]

    delivery = delivery_send(delivery_test_create(channel=webhook, user_name="olivia").pk)

    assert (delivery.status, delivery.status_code) == ("pending", 302)
    assert len(webhook_receiver.requests) == 1  # no second request to /elsewhere
