"""Redis is a broker, not a store: restarted empty with batches pending, it has lost their
tasks, and the beat sweep sends them again from the batch rows."""

import time

import pytest
import redis

from tests.faults.checks import assert_exactly_once
from tests.faults.load import Load, fleet_events, requests_of
from tests.faults.services import wait_for_applied

pytestmark = [pytest.mark.faults, pytest.mark.worker]


def test_redis_restarted_empty_with_batches_pending_loses_nothing(target, project):
    requests = requests_of(fleet_events(40, "rb-"), 100)
    conn = target.conn()
    broker = redis.Redis.from_url(target.stack.redis.url)
    before = Load(target.port, target.key, requests[:20]).run()  # no worker yet: all pending
    assert before.statuses() == {202}
    assert broker.llen("studio") >= 20, "the tasks of the pending batches are not queued"

    target.stack.redis.restart_empty()
    (restarted_at,) = conn.execute("SELECT now()").fetchone()
    assert broker.llen("studio") == 0, "the restarted broker still has the tasks"
    target.stack.start_worker()
    wait_for_applied(conn, target.project_id, timeout=45)
    # Nothing but the sweep sends tasks now; one it sent may take other pending batches
    # of its shard along, so not every batch needs its own.
    swept = conn.execute(
        "SELECT count(*) FROM runs_ingestbatch WHERE project_id = %s AND enqueued_at > %s",
        [target.project_id, restarted_at],
    ).fetchone()[0]
    assert swept, "the batches were applied, yet the sweep sent none"

    # And again with a worker running and clients sending: ingest does not need Redis.
    during = Load(target.port, target.key, requests[20:], clients=2, pace=0.1).start()
    time.sleep(0.5)
    target.stack.redis.restart_empty()
    during.join()
    assert during.statuses() == {202}, "PostgreSQL is up: every request is taken"
    wait_for_applied(conn, target.project_id, timeout=45)
    assert_exactly_once(conn, target.project_id, requests, project)


def test_ingest_takes_events_while_redis_is_down_and_they_are_applied_once_it_is_back(
    target, project
):
    requests = requests_of(fleet_events(10, "rd-"), 100)
    conn = target.conn()
    target.stack.start_worker()
    target.stack.redis.kill()
    try:
        started = time.monotonic()
        down = Load(target.port, target.key, requests, clients=2).run()
        took = time.monotonic() - started
    finally:
        target.stack.redis.start()
    assert down.statuses() == {202}, "the batches are in PostgreSQL: the broker is not needed"
    assert took < 3, f"10 requests took {took:.1f}s: sending their tasks held them"
    wait_for_applied(conn, target.project_id, timeout=45)
    assert_exactly_once(conn, target.project_id, requests, project)
