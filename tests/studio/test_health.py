"""/healthz: what a load balancer and an operator read."""

import json

from runs.models import IngestBatch
from studio.redis import redis_client
from tests.conftest import ev


def test_healthz_is_200_with_database_broker_queue_and_backlog(client, db, celery_queue):
    redis_client().rpush(celery_queue, "a", "b", "c")

    response = client.get("/healthz")

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


def test_healthz_counts_pending_and_failed_batches(client, api, project, celery_queue):
    # In a rolled-back test nothing is enqueued on commit, so the batch stays pending.
    answer = api.post("/api/v1/ingest", data=json.dumps(ev("run_start")),
                      content_type="application/json")  # fmt: skip
    assert answer.status_code == 202
    IngestBatch.objects.create(project=project, payload="[]", status=IngestBatch.Status.FAILED)

    pipeline = client.get("/healthz").json()["pipeline"]

    assert pipeline["pending_batches"] == 1
    assert pipeline["failed_batches"] == 1
    assert 0 <= pipeline["oldest_pending_seconds"] < 60


def test_healthz_is_503_when_the_broker_is_down(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["broker"]["ok"] is False
    assert "127.0.0.1:1" in body["broker"]["error"] or "refused" in body["broker"]["error"]
    assert body["database"]["ok"] is True


def test_healthz_needs_no_login_and_only_answers_get(client, db):
    assert client.get("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405
