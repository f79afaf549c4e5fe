"""PostgreSQL down for a few seconds during ingestion: meanwhile the API answers only 503
with Retry-After (never another error, never a 202 it cannot keep), clients that retry
lose nothing, and those that gave up find nothing of theirs half stored."""

import json
import re
import time

import httpx
import psycopg
import pytest

from bench.ingest_e2e import wait_until
from tests.conftest import PASSWORD
from tests.faults.checks import assert_exactly_once
from tests.faults.load import Load, fleet_events, requests_of
from tests.faults.services import wait_for_applied

pytestmark = [pytest.mark.faults, pytest.mark.worker]


@pytest.mark.parametrize("mode", ["fast", "immediate"])  # a restart, and a crash
def test_database_restarted_during_ingestion(target, project, mode):
    target.stack.start_worker(concurrency=2)
    retrying = requests_of(fleet_events(40, f"db{mode[0]}-"), 100)
    giving_up = requests_of(fleet_events(10, f"dg{mode[0]}-"), 50)
    patient = Load(target.port, target.key, retrying, clients=3, pace=0.25, deadline=50).start()
    once = Load(target.port, target.key, giving_up, clients=1, pace=0.3, retry=False).start()

    time.sleep(1.5)
    cut_an_ingest_mid_transaction(target)
    target.stack.postgres.stop(mode)
    time.sleep(4)
    target.stack.postgres.start()
    patient.join()
    once.join()

    answers = patient.answers() + once.answers()
    assert {status for status, _ in answers} == {202, 503}, "the outage was not seen, or not 503"
    assert all(retry for status, retry in answers if status == 503), "a 503 without Retry-After"
    assert all(r.acknowledged for r in retrying), "a retrying client gave up"
    assert not all(r.acknowledged for r in giving_up), "no request of those sent once failed"
    conn = target.conn()
    wait_for_applied(conn, target.project_id, timeout=45)
    assert_exactly_once(conn, target.project_id, retrying + giving_up, project)


def cut_an_ingest_mid_transaction(target) -> None:
    """Hold the next ingest inside its transaction, its key checked and its batch half
    written, then cut its connection, as a restart does to requests under way: the
    answer it owes is not a 202."""
    blocker = psycopg.connect(target.stack.postgres.url())
    blocker.execute("LOCK TABLE runs_ingestbatch IN EXCLUSIVE MODE")
    with target.conn() as conn:
        waiting = wait_until(
            lambda: conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'studio-web' "
                "AND wait_event_type = 'Lock'"
            ).fetchone(),
            10, "an ingest waiting on the batch table", interval=0.01,
        )  # fmt: skip
        conn.execute("SELECT pg_terminate_backend(%s, 5000)", waiting)
    blocker.close()


def signed_in(target) -> httpx.Client:
    """A browser-like client signed in through the login form."""
    target.stack.manage("addmember", "faults-owner", "--org", "Faults", "--role", "owner",
                        "--password", PASSWORD)  # fmt: skip
    client = httpx.Client(base_url=f"http://127.0.0.1:{target.port}", timeout=30)
    answer = client.post(
        "/login/",
        data={"username": "faults-owner", "password": PASSWORD,
              "csrfmiddlewaretoken": login_token(client)},
        headers={"Referer": f"http://127.0.0.1:{target.port}/login/"},
    )  # fmt: skip
    assert answer.status_code == 302, answer.text[:500]
    return client


def login_token(client: httpx.Client) -> str:
    form = client.get("/login/").text
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)


def test_every_route_answers_503_with_retry_after_while_the_database_is_down(target):
    browser = signed_in(target)
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{target.port}", timeout=30,
        headers={"Authorization": f"Bearer {target.key}"},
    )  # fmt: skip
    visitor = httpx.Client(base_url=api.base_url, headers={"Referer": f"{api.base_url}/login/"})
    token = login_token(visitor)
    event = fleet_events(1, "down-")[0]
    calls = [
        (api, "POST", "/api/v1/ingest", {"content": json.dumps(event),
                                         "headers": {"Content-Type": "application/x-ndjson"}}),
        (api, "POST", "/v1/traces", {"json": {"resourceSpans": []}}),
        (api, "POST", "/api/v1/validations", {"content": "ok", "headers": {
            "Content-Type": "text/plain", "X-Charm-Agent": "invoice-bot"}}),
        (api, "GET", "/api/v1/runs", {}),
        (api, "GET", f"/api/v1/runs/{event['run_id']}", {}),
        (api, "GET", f"/api/v1/runs/{event['run_id']}/events", {}),
        (browser, "GET", "/runs/", {}),
        (browser, "GET", "/errors/", {}),
        (browser, "GET", "/usage/", {}),
        (browser, "GET", "/settings/", {}),
        (visitor, "POST", "/login/", {"data": {"username": "faults-owner", "password": PASSWORD,
                                               "csrfmiddlewaretoken": token}}),
    ]  # fmt: skip
    target.stack.postgres.stop("fast")
    try:
        answers = {path: client.request(method, path, **kw) for client, method, path, kw in calls}
    finally:
        target.stack.postgres.start()
    wrong = {
        path: (r.status_code, r.headers.get("Retry-After"), r.text[:200])
        for path, r in answers.items()
        if r.status_code != 503 or not r.headers.get("Retry-After")
    }
    assert not wrong, f"answers other than 503 with Retry-After: {wrong}"
    assert "unavailable" in answers["/runs/"].text, "the page does not say what is wrong"
