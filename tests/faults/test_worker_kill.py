"""A worker SIGKILLed while it applies a batch loses nothing and doubles nothing: its
transaction dies with it, the batch stays pending and the sweep sends it again."""

import time

import pytest

from tests.faults.checks import assert_exactly_once
from tests.faults.load import Load, fleet_events, requests_of
from tests.faults.services import wait_for_applied

pytestmark = [pytest.mark.faults, pytest.mark.worker]

APPLYING = """
    SELECT count(*) FROM pg_stat_activity
    WHERE application_name = 'studio-worker' AND xact_start IS NOT NULL
      AND state IN ('active', 'idle in transaction')
      AND backend_xid IS NOT NULL  -- it has written: the apply is under way
"""


def kill_while_applying(target, conn) -> None:
    worker = target.stack.start_worker(wait=False)  # it may apply before it answers a ping
    deadline = time.monotonic() + 30
    while not conn.execute(APPLYING).fetchone()[0]:
        assert time.monotonic() < deadline, "the worker never started applying"
        time.sleep(0.005)
    worker.kill()


def test_worker_killed_mid_batch_loses_and_doubles_nothing(target, project):
    requests = requests_of(fleet_events(60, "wk-"), 100)  # 6,000 events
    conn = target.conn()
    first = Load(target.port, target.key, requests[:40]).run()  # a backlog to apply
    assert first.statuses() == {202}
    rest = Load(target.port, target.key, requests[40:], clients=2, pace=0.3).start()

    kill_while_applying(target, conn)
    pending = conn.execute(
        "SELECT count(*) FROM runs_ingestbatch WHERE project_id = %s AND status = 'pending'",
        [target.project_id],
    ).fetchone()[0]
    assert pending, "the killed apply had committed: it was not killed mid-batch"
    kill_while_applying(target, conn)  # and the next one too

    target.stack.start_worker()
    rest.join()
    assert rest.statuses() == {202}
    wait_for_applied(conn, target.project_id)
    assert_exactly_once(conn, target.project_id, requests, project)
