"""POST /api/v1/ingest: formats, per-event errors, keys and limits."""

import gzip
import json

import pytest

from runs.models import IngestBatch
from studio.apikeys import apikey_create, apikey_revoke
from tests.conftest import ev

URL = "/api/v1/ingest"


def ndjson(events: list[dict]) -> bytes:
    return "".join(json.dumps(e) + "\n" for e in events).encode()


def post(api, body: bytes, content_type="application/x-ndjson", **headers):
    return api.post(URL, data=body, content_type=content_type, headers=headers)


def stored_events(project) -> list[str]:
    ids = []
    for batch in IngestBatch.objects.filter(project=project):
        ids += [e["event_id"] for e in json.loads(batch.payload)]
    return ids


def test_ndjson_batch_is_committed_before_the_202(api, project):
    response = post(
        api, ndjson([ev("run_start", event_id="e1"), ev("log", event_id="e2", message="hi")])
    )

    assert response.status_code == 202
    assert response.json() == {"accepted": 2, "rejected": []}
    assert stored_events(project) == ["e1", "e2"]


@pytest.mark.parametrize("wrap", [lambda events: events, lambda events: {"events": events}])
def test_json_array_and_envelope_are_accepted(api, project, wrap):
    body = json.dumps(wrap([ev("run_start", event_id="a"), ev("run_end", event_id="b")])).encode()

    response = post(api, body, content_type="application/json")

    assert response.status_code == 202
    assert response.json()["accepted"] == 2


def test_valid_events_are_kept_when_their_neighbours_are_bad(api, project):
    lines = [
        json.dumps(ev("run_start", event_id="good1")),
        "{not json",
        json.dumps(ev("teleport", event_id="bad-type")),
        json.dumps(ev("revenue", event_id="float", kind="charge", amount=12.5, currency="USD")),
        json.dumps(ev("log", event_id="good2", message="still here")),
    ]

    response = post(api, ("\n".join(lines) + "\n").encode())

    body = response.json()
    assert response.status_code == 202
    assert body["accepted"] == 2
    rejected = {r["index"]: r["error"] for r in body["rejected"]}
    assert set(rejected) == {1, 2, 3}
    assert "invalid JSON" in rejected[1]
    assert "teleport" in rejected[2] and "run_start" in rejected[2]
    assert "data.amount" in rejected[3] and "string" in rejected[3]
    assert stored_events(project) == ["good1", "good2"]


def test_gzip_bodies_are_accepted(api):
    body = gzip.compress(ndjson([ev("run_start")]))

    response = post(api, body, HTTP_CONTENT_ENCODING="gzip", **{"Content-Encoding": "gzip"})

    assert response.status_code == 202
    assert response.json()["accepted"] == 1


def test_corrupt_gzip_is_a_400_that_says_so(api):
    response = post(api, b"\x1f\x8bnot really gzip", **{"Content-Encoding": "gzip"})

    assert response.status_code == 400
    assert "gzip" in response.json()["error"]


def test_a_gzip_bomb_over_the_request_limit_is_a_413(api):
    bomb = gzip.compress(b" " * (11 * 1024 * 1024))

    response = post(api, bomb, **{"Content-Encoding": "gzip"})

    assert response.status_code == 413


def test_an_event_over_one_mebibyte_is_rejected_by_itself(api):
    big = ev("log", message="x" * (1024 * 1024 + 10))

    response = post(api, ndjson([big, ev("run_start")]))

    assert response.status_code == 202
    assert response.json()["accepted"] == 1
    assert response.json()["rejected"][0]["index"] == 0


def test_a_body_with_nothing_parseable_is_a_400(api):
    response = post(api, b"this is not json at all\n")

    assert response.status_code == 400
    assert response.json()["error"]


def test_raw_stdout_lines_become_log_events_of_the_named_run(api, project):
    event_line = json.dumps(ev("run_start", "run_9", event_id="s1"))
    body = f"booting agent\n{event_line}\nTraceback: boom\n".encode()

    response = post(api, body, content_type="text/plain", **{"X-Charm-Run-Id": "run_9"})

    assert response.status_code == 202
    assert response.json()["accepted"] == 3
    events = json.loads(IngestBatch.objects.get(project=project).payload)
    logs = [e for e in events if e["type"] == "log"]
    assert [e["data"]["message"] for e in logs] == ["booting agent", "Traceback: boom"]
    assert {e["run_id"] for e in events} == {"run_9"}


def test_missing_and_unknown_keys_are_401(client, db):
    assert client.post(URL, data=b"", content_type="application/x-ndjson").status_code == 401
    response = client.post(
        URL, data=b"", content_type="application/x-ndjson", headers={"Authorization": "Bearer nope"}
    )
    assert response.status_code == 401
    assert "unknown API key" in response.json()["error"]


def test_a_revoked_key_is_refused(client, project):
    key, raw = apikey_create(project=project, scopes=["ingest"])
    apikey_revoke(key=key)

    response = client.post(
        URL, data=ndjson([ev("run_start")]), content_type="application/x-ndjson",
        headers={"Authorization": f"Bearer {raw}"},
    )  # fmt: skip

    assert response.status_code == 401
    assert "revoked" in response.json()["error"]


def test_a_read_only_key_cannot_ingest(client, project):
    _, raw = apikey_create(project=project, scopes=["read"])

    response = client.post(
        URL, data=ndjson([ev("run_start")]), content_type="application/x-ndjson",
        headers={"Authorization": f"Bearer {raw}"},
    )  # fmt: skip

    assert response.status_code == 403
    assert "'ingest' scope" in response.json()["error"]


def test_over_the_rate_limit_is_a_429_with_retry_after(api, settings):
    settings.INGEST_RATE_LIMIT_PER_MINUTE = 2
    responses = [post(api, ndjson([ev("run_start")])) for _ in range(3)]

    assert [r.status_code for r in responses[:2]] == [202, 202]
    assert responses[2].status_code == 429
    assert 1 <= int(responses[2]["Retry-After"]) <= 60


def test_ingest_refuses_get(api):
    assert api.get(URL).status_code == 405


def test_a_request_over_ten_mebibytes_is_a_413(api):
    body = b" " * (10 * 1024 * 1024 + 1)

    response = post(api, body)

    assert response.status_code == 413
    assert "10,485,760" in response.json()["error"]


def test_when_the_store_is_down_the_answer_is_503_with_retry_after(api, monkeypatch):
    from django.db import OperationalError

    def store_down(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("runs.api.batch_store", store_down)

    response = post(api, ndjson([ev("run_start")]))

    assert response.status_code == 503
    assert response["Retry-After"] == "5"


def _server_has_lz4() -> bool:
    from django.db import DatabaseError, connection, transaction

    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL default_toast_compression = lz4")
    except DatabaseError:
        return False
    return True


def test_a_large_batch_is_stored_lz4_compressed(api, project):
    """pglz made storing a 400 kB batch four times slower; a server without lz4 keeps it."""
    from django.db import connection

    if not _server_has_lz4():
        pytest.skip("this PostgreSQL is built without lz4")
    events = [ev("log", event_id=f"e{n}", message=f"step {n} done " * 20) for n in range(200)]
    assert post(api, ndjson([ev("run_start", event_id="s"), *events])).status_code == 202

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_column_compression(payload), event_count FROM runs_ingestbatch"
            " WHERE project_id = %s",
            [project.pk],
        )
        assert cursor.fetchall() == [("lz4", 201)]
    assert len(stored_events(project)) == 201  # and it reads back whole
