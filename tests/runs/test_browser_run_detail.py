"""The run detail page in a real browser, served by a real uvicorn (ASGI) process.

Django's `live_server` is a threaded WSGI server: it would read an async
StreamingHttpResponse to the end before sending anything, so a live tail never
arrives. These tests start `uvicorn studio.asgi:application` on a free port against
the test database instead (committed data: `transactional_db`), and apply events
in the test process, whose commit publishes to Redis like a worker's would.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import apply_now, ev, log_in
from tests.runs.test_views_run_detail import a_failed_run

pytestmark = pytest.mark.browser
BASE_DIR = Path(__file__).resolve().parents[2]
SHOTS = Path("/tmp/ui/run-detail")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    db = settings.DATABASES["default"]
    if db["HOST"] and db["HOST"].startswith("/"):
        return f"postgresql://{db['USER']}@/{db['NAME']}?host={db['HOST']}&port={db['PORT']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db["HOST"] or "localhost"
    return f"postgres://{db['USER']}{password}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def asgi_server(transactional_db, celery_queue):
    """`uvicorn studio.asgi:application` on a free port, on the test database."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": "browser-test-secret",
        "DEBUG": "1",  # static files from the app, cookies without `Secure` over http
        "CELERY_QUEUE": celery_queue,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "studio.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=BASE_DIR, env=env, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"{url}/login/", timeout=1)  # noqa: S310 — our own server
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                os.killpg(process.pid, 9)
                pytest.fail("uvicorn did not start")
            time.sleep(0.2)
    yield url
    os.killpg(process.pid, 15)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)


def test_a_failed_run_opens_on_its_error_selected(asgi_server, page, project, owner):
    apply_now(project, a_failed_run())
    log_in(page, asgi_server, owner.username)
    page.goto(f"{asgi_server}/runs/run_1/")

    selected = page.locator("#wf-rows .is-selected")
    assert selected.count() == 1
    assert selected.get_attribute("data-key").startswith("error:")
    pane = page.locator("#detail-pane")
    assert "KeyError" in pane.inner_text() and "charge.py" in pane.inner_text()
    assert page.locator(".rd-error .rd-error__type").inner_text() == "KeyError"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "browser-failed.png"), full_page=True)

    # A click on the LLM call shows its streamed text beside the timeline, and the URL
    # names it, without leaving the page.
    page.locator('[data-key="llm:c1"]').click()
    # A function, not a bare expression: Playwright evals an expression inside the page,
    # which the Content-Security-Policy refuses.
    page.wait_for_function(
        "() => document.querySelector('#detail-pane').innerText.includes('Hello')"
    )
    assert "item=llm%3Ac1" in page.url or "item=llm:c1" in page.url
    assert "Time to first token" in pane.inner_text()
    assert page.locator('[data-key="llm:c1"]').get_attribute("class").count("is-selected") == 1


def test_a_running_run_shows_new_rows_as_they_arrive(asgi_server, page, project, owner):
    apply_now(project, [
        ev("run_start", "run_live", at=0, seq=0),
        ev("tool_start", "run_live", at=1, seq=1, tool_name="search", span_id="t1"),
    ])  # fmt: skip
    log_in(page, asgi_server, owner.username)
    page.goto(f"{asgi_server}/runs/run_live/")
    page.wait_for_selector("#live-indicator:not([hidden])", timeout=5000)
    assert page.locator("#live-indicator").inner_text() == "Live"

    started = time.monotonic()
    apply_now(project, [
        ev("tool_end", "run_live", at=2, seq=2, tool_name="search", span_id="t1"),
        ev("tool_start", "run_live", at=2.5, seq=3, tool_name="fetch", span_id="t2"),
    ])  # fmt: skip
    page.wait_for_selector('[data-key="tool:t2"]', timeout=5000)
    assert time.monotonic() - started < 5
    assert page.locator('[data-key="tool:t1"] .waterfall__bar').get_attribute("data-dur") == "1 s"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "browser-live.png"))

    apply_now(project, [ev("run_end", "run_live", at=3, seq=4, outputs={"ok": True})])
    page.wait_for_selector("#run-header .badge--succeeded", timeout=5000)
    page.wait_for_selector("#live-indicator", state="hidden", timeout=5000)


def test_without_event_source_the_page_polls_for_new_rows(asgi_server, page, project, owner):
    apply_now(project, [ev("run_start", "run_poll", at=0, seq=0)])
    page.add_init_script("delete window.EventSource")
    log_in(page, asgi_server, owner.username)
    page.goto(f"{asgi_server}/runs/run_poll/")
    page.wait_for_selector("#live-indicator:not([hidden])", timeout=5000)
    assert page.locator("#live-indicator").inner_text() == "Live · polling"

    apply_now(project, [ev("tool_start", "run_poll", at=1, seq=1, tool_name="x", span_id="t9")])
    page.wait_for_selector('[data-key="tool:t9"]', timeout=8000)  # polled every 3 s
    apply_now(project, [ev("run_end", "run_poll", at=2, seq=2)])
    page.wait_for_selector("#run-header .badge--succeeded", timeout=8000)
