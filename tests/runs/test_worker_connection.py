"""A real worker keeps its PostgreSQL connection from one batch to the next, and opens a
new one when that connection was lost.

Celery's Django fixup would close it around every task, and opening one costs the
server about 4 ms of CPU: more than a tenth of applying a batch.
"""

import json

from django.db import connection

from runs.models import IngestBatch, Run
from tests.conftest import ev, other_backends, wait_for


def _post(api, run_id: str) -> None:
    events = [ev("run_start", run_id=run_id), ev("run_end", run_id=run_id, status="succeeded")]
    body = "".join(json.dumps(e) + "\n" for e in events).encode()
    response = api.post("/api/v1/ingest", data=body, content_type="application/x-ndjson")
    assert response.status_code == 202


def _applied(api, run_id: str) -> None:
    _post(api, run_id)
    wait_for(lambda: Run.objects.filter(run_id=run_id, status="succeeded").exists())
    wait_for(lambda: not IngestBatch.objects.filter(status="pending").exists())


def test_the_worker_applies_batch_after_batch_on_one_connection(api, worker):
    others = other_backends()  # connections other tests may have left
    worker()
    _applied(api, "run_a")
    backends = other_backends() - others
    assert len(backends) == 1  # still connected once its task is done

    for n in range(3):
        _applied(api, f"run_b{n}")

    assert other_backends() - others == backends


def test_a_worker_whose_connection_was_cut_reconnects_and_applies(api, worker):
    others = other_backends()
    worker()
    _applied(api, "run_a")
    (backend,) = other_backends() - others
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
    wait_for(lambda: backend not in other_backends())

    _applied(api, "run_b")

    assert not IngestBatch.objects.filter(status="failed").exists()
    assert Run.objects.get(run_id="run_b").status == "succeeded"
