"""/healthz: what a load balancer reads (ok or not) and what an operator reads (why)."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from runs.models import IngestBatch
from studio.redis import redis_client
from tests.conftest import ev

TOKEN = "monitor-token-7f3a9c"


@pytest.fixture
def monitor(settings):
    """A monitoring client holding HEALTH_TOKEN."""
    settings.HEALTH_TOKEN = TOKEN
    return Client(headers={"Authorization": f"Bearer {TOKEN}"})


def test_healthz_is_200_with_database_broker_queue_and_backlog(monitor, db, celery_queue):
    redis_client().rpush(celery_queue, "a", "b", "c")

    response = monitor.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["database"]["ok"] is True and body["database"]["ms"] >= 0
    assert body["broker"]["ok"] is True and body["broker"]["queue"] == 3
    assert body["pipeline"] == {
        "pending_batches": 0,
        "oldest_pending_seconds": 0,
        "failed_batches": 0,
    }


def test_healthz_counts_pending_and_failed_batches(monitor, api, project, celery_queue):
    # In a rolled-back test nothing is enqueued on commit, so the batch stays pending.
    answer = api.post("/api/v1/ingest", data=json.dumps(ev("run_start")),
                      content_type="application/json")  # fmt: skip
    assert answer.status_code == 202
    IngestBatch.objects.create(project=project, payload="[]", status=IngestBatch.Status.FAILED)

    pipeline = monitor.get("/healthz").json()["pipeline"]

    assert pipeline["pending_batches"] == 1
    assert pipeline["failed_batches"] == 1
    assert 0 <= pipeline["oldest_pending_seconds"] < 60


def test_healthz_is_503_when_the_broker_is_down(monitor, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    response = monitor.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["broker"]["ok"] is False
    assert "127.0.0.1:1" in body["broker"]["error"] or "refused" in body["broker"]["error"]
    assert body["database"]["ok"] is True


def test_healthz_needs_no_login_and_only_answers_get(client, db):
    assert client.get("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


def test_a_public_request_learns_only_ok_even_when_the_broker_is_down(client, db, settings):
    settings.HEALTH_TOKEN = TOKEN
    assert client.get("/healthz").json() == {"ok": True}

    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"ok": False}
    assert b"127.0.0.1" not in response.content and b"refused" not in response.content


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"X-Health-Token": TOKEN[:-1]},
        {"Authorization": "Bearer "},
    ],
)
def test_a_wrong_or_malformed_token_gets_only_ok(db, settings, headers):
    settings.HEALTH_TOKEN = TOKEN

    assert Client(headers=headers).get("/healthz").json() == {"ok": True}


def test_with_no_token_configured_an_empty_token_opens_nothing(db, settings):
    settings.HEALTH_TOKEN = ""

    for headers in ({"Authorization": "Bearer "}, {"X-Health-Token": ""}):
        assert Client(headers=headers).get("/healthz").json() == {"ok": True}


def test_the_token_also_works_as_x_health_token(db, settings):
    settings.HEALTH_TOKEN = TOKEN

    body = Client(headers={"X-Health-Token": TOKEN}).get("/healthz").json()

    assert body["database"]["ok"] is True and "queue" in body["broker"]


def test_staff_see_details_and_other_members_do_not(db, owner_client, owner):
    assert owner_client.get("/healthz").json() == {"ok": True}  # an owner is not staff

    get_user_model().objects.filter(pk=owner.pk).update(is_staff=True)

    assert owner_client.get("/healthz").json()["database"]["ok"] is True
