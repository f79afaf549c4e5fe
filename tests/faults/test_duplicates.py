"""Delivered twice, stored once: the same request sent twice (at once, and later cut
differently), a batch's task delivered again, and applied batches applied again."""

import pytest
from celery import Celery

from tests.faults.checks import assert_exactly_once, stored_event_ids, stored_runs
from tests.faults.load import Load, fleet_events, requests_of
from tests.faults.services import wait_for_applied

pytestmark = [pytest.mark.faults, pytest.mark.worker]


def send_again(broker_url: str, batch_ids: list[int], times: int) -> None:
    """Deliver each batch's task again, as a broker that redelivers does."""
    celery = Celery(broker=broker_url, set_as_current=False)
    try:
        for _ in range(times):
            for batch_id in batch_ids:
                celery.send_task("runs.tasks.apply_batch", args=[batch_id], queue="studio")
    finally:
        celery.close()


def test_duplicate_deliveries_store_each_event_once(target, project):
    events = fleet_events(30, "dup-")
    requests = requests_of(events, 100)
    target.stack.start_worker(concurrency=2)
    conn = target.conn()
    # Each request by two clients at the same moment, then every event again in requests
    # cut differently, so one event is in batches of other requests.
    twice = [Load(target.port, target.key, requests, clients=2).start() for _ in range(2)]
    for load in twice:
        load.join()
    recut = requests_of(events[50:], 70)
    Load(target.port, target.key, recut).run()
    wait_for_applied(conn, target.project_id)
    runs_before = stored_runs(conn, target.project_id)
    ids_before = stored_event_ids(conn, target.project_id)

    batch_ids = [
        row[0]
        for row in conn.execute(
            "SELECT id FROM runs_ingestbatch WHERE project_id = %s AND event_count > 0",
            [target.project_id],
        )
    ]
    send_again(target.stack.redis.url, batch_ids, times=2)  # already applied: nothing to do
    # An applied batch re-applied by hand (they are kept a week for that): its events
    # are all duplicates.
    conn.execute(
        "UPDATE runs_ingestbatch SET status = 'pending', enqueued_at = now() "
        "WHERE project_id = %s AND event_count > 0",
        [target.project_id],
    )
    send_again(target.stack.redis.url, batch_ids, times=2)
    wait_for_applied(conn, target.project_id)

    (attempts,) = conn.execute(
        "SELECT min(attempts) FROM runs_ingestbatch WHERE project_id = %s AND event_count > 0",
        [target.project_id],
    ).fetchone()
    assert attempts >= 2, "the batches were not applied again"
    assert stored_runs(conn, target.project_id) == runs_before
    assert stored_event_ids(conn, target.project_id) == ids_before
    assert_exactly_once(conn, target.project_id, [*requests, *recut], project)
