"""The whole pipeline with real Celery workers on the real broker and database:
nothing accepted is ever missing, whatever happens to workers and broker."""

import json
import os
import signal
import time

import pytest
from django.db import connection

from runs.ingest.inbox import batch_apply, batches_sweep, shard_of
from runs.models import IngestBatch, Run
from studio.redis import redis_client
from tests.conftest import ev, wait_for
from tests.runs.test_apply import a_failed_run, snapshot

pytestmark = pytest.mark.worker


def send(api, events: list[dict]) -> dict:
    body = "".join(json.dumps(e) + "\n" for e in events).encode()
    response = api.post("/api/v1/ingest", data=body, content_type="application/x-ndjson")
    assert response.status_code == 202, response.content
    return response.json()


def all_applied() -> bool:
    return not IngestBatch.objects.exclude(status=IngestBatch.Status.APPLIED).exists()


def test_events_sent_over_http_are_visible_in_the_read_api(api, worker):
    worker()
    send(api, a_failed_run("run_http"))

    def failed_run():
        body = api.get("/api/v1/runs/run_http").json()
        return body if body.get("status") == "failed" else None

    run = wait_for(failed_run)
    assert run["tool_calls"] == 1
    assert run["llm_calls"][0]["text"] == "Hello there"
    assert run["errors"][0]["type"] == "KeyError"
    listed = api.get("/api/v1/runs?status=failed").json()["runs"]
    assert [r["run_id"] for r in listed] == ["run_http"]


def test_two_workers_applying_one_runs_batches_at_once_agree_with_one_worker(
    api, worker, project, other_project
):
    events = a_failed_run("shared") + [
        ev("log", "shared", at=4 + i / 100, seq=100 + i, message=f"line {i}") for i in range(60)
    ]
    worker(concurrency=2)
    worker(concurrency=2)
    for i in range(0, len(events), 3):  # 23 small batches, applied in parallel
        send(api, events[i : i + 3])
    wait_for(all_applied)

    from tests.conftest import apply_now

    apply_now(other_project, events)
    assert snapshot(project) == snapshot(other_project)
    assert Run.objects.get(project=project).event_count == len(events)


def test_a_request_of_many_runs_is_stored_per_shard_and_applied_whole(
    api, worker, project, other_project, settings
):
    from tests.conftest import apply_now

    settings.INGEST_SHARDS = 3
    events = [e for n in range(12) for e in a_failed_run(f"many{n}")]
    apply_now(other_project, events)  # the same events applied here, before the worker runs
    worker(concurrency=2)

    answer = send(api, [*events, {"v": 1, "type": "run_start"}])  # one line rejected

    batches = list(IngestBatch.objects.filter(project=project).order_by("id"))
    assert len(batches) > 1
    for batch in batches:  # a run's events are all in one batch
        run_ids = {e["run_id"] for e in json.loads(batch.payload)}
        assert len({shard_of(run_id) for run_id in run_ids}) == 1
    assert [b.rejected_count for b in batches] == [1] + [0] * (len(batches) - 1)
    assert sum(b.event_count for b in batches) == answer["accepted"] == len(events)
    wait_for(all_applied)
    assert snapshot(project) == snapshot(other_project)


def _worker_is_applying() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            "AND state = 'active' AND query LIKE '%%runs_%%' AND query NOT LIKE '%%pg_stat%%'"
        )
        return cursor.fetchone()[0] > 0


def test_a_worker_killed_mid_batch_loses_nothing(api, worker, project, settings):
    events = []
    for n in range(150):  # one large batch, long enough to kill the worker inside it
        events += a_failed_run(f"big{n}") + [
            ev("log", f"big{n}", at=6 + i / 10, message=f"log {i}") for i in range(120)
        ]
    send(api, events)
    first = worker()
    wait_for(_worker_is_applying, timeout=30, interval=0.01)
    os.killpg(first.process.pid, signal.SIGKILL)
    first.process.wait()

    # The half-done work rolled back: the batch it was in (one per shard) is pending.
    pending = IngestBatch.objects.filter(project=project, status=IngestBatch.Status.PENDING)
    assert pending.exists()

    settings.PENDING_BATCH_RETRY_SECONDS = 0
    worker()
    assert batches_sweep() == pending.count()
    wait_for(all_applied, timeout=60)
    assert Run.objects.filter(project=project).count() == 150
    assert sum(Run.objects.filter(project=project).values_list("event_count", flat=True)) == len(
        events
    )


def test_batches_whose_broker_messages_were_lost_are_recovered_by_the_sweeper(
    api, worker, project, settings, celery_queue
):
    send(api, a_failed_run("lost1"))
    send(api, a_failed_run("lost2"))
    redis_client().delete(celery_queue)  # Redis restarted: its queue is gone
    worker()
    time.sleep(2)
    assert IngestBatch.objects.filter(status=IngestBatch.Status.PENDING).count() == 2

    settings.PENDING_BATCH_RETRY_SECONDS = 0
    assert batches_sweep() == 2

    wait_for(all_applied)
    assert set(Run.objects.values_list("run_id", flat=True)) == {"lost1", "lost2"}


def test_a_batch_that_keeps_failing_is_marked_failed_with_its_error(project, settings):
    settings.BATCH_MAX_ATTEMPTS = 2
    batch = IngestBatch.objects.create(project=project, payload="[{broken")

    for _ in range(2):
        with pytest.raises(ValueError):
            batch_apply(batch.pk)

    batch.refresh_from_db()
    assert batch.status == IngestBatch.Status.FAILED
    assert batch.attempts == 2
    assert "JSON is malformed" in batch.last_error
