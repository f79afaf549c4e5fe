"""The debug checklist in a real browser: log in, open a failed run's checklist, read
its five rows."""

from pathlib import Path

import pytest

from tests.conftest import apply_now, log_in
from tests.runs.test_views_debug import CLOUD_RUNTIME, LOCAL_RUNTIME, batch, run_events

# serialized_rollback: the flush after a transactional test would otherwise also remove
# the rows migrations seed (default model prices) for the tests that run after it.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
SHOTS = Path("/tmp/ui/debug")  # screenshots stay out of the repo


@pytest.fixture
def failed_cloud_run(project):
    apply_now(
        project,
        run_events("run_local", environment="local", runtime=LOCAL_RUNTIME, at=0)
        + run_events("run_cloud", environment="cloud", runtime=CLOUD_RUNTIME, at=600, fail=True),
    )
    return "run_cloud"


def read_rows(page) -> list[tuple[str, str, str]]:
    """Each row as (title, the symbol drawn before it, its evidence line)."""
    found = page.eval_on_selector_all(
        ".checklist > li",
        """items => items.map(li => [
            li.querySelector('.check__title').childNodes[0].textContent.trim(),
            getComputedStyle(li, '::before').content.replaceAll('"', ''),
            li.querySelector('.check__evidence').innerText.trim(),
        ])""",
    )
    return [tuple(row) for row in found]


def test_the_checklist_of_a_failed_cloud_run_reads_five_rows(
    failed_cloud_run, owner, live_server, page
):
    log_in(page, live_server.url, owner.username)

    page.goto(f"{live_server.url}/runs/{failed_cloud_run}/checklist/")

    assert read_rows(page) == [
        (
            "Same input locally",
            "✓",
            "It succeeded locally with the same input (run_local), so the difference is "
            "environmental.",
        ),
        ("Validation", "–", "No validation status was reported for this run."),
        (
            "Logs",
            "✗",
            "Line 4 is the first error line before the failure: charm.runtime: run failed: "
            "KeyError",
        ),
        (
            "Environment variables and OAuth connections",
            "✗",
            "STRIPE_API_KEY is declared in config.required_env and the error says it is "
            "missing — set it in the cloud environment",
        ),
        ("Runtime", "✗", "python 3.12.7 here vs 3.11.9 locally."),
    ]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "test-checklist-light.png", full_page=True)

    page.click("text=Compare with run_local")
    page.wait_for_url("**/runs/compare/?a=run_local&b=run_cloud")
    assert "At step 5" in page.inner_text(".dbg-cmp-banner")


def test_ingest_health_shows_refusals_and_failed_batches(project, owner, live_server, browser):
    batch(project, events=140, duplicates=6, hours_ago=5)
    batch(project, events=80, hours_ago=2)
    batch(
        project,
        events=25,
        hours_ago=1,
        rejections=[
            "type: unknown event type 'tool_call'; valid types are: run_start, run_end, error, "
            "tool_start, tool_end, tool_error, agent_action, status, log, usage, revenue",
            "type: unknown event type 'llm_start'; valid types are: run_start, run_end, error, "
            "tool_start, tool_end, tool_error, agent_action, status, log, usage, revenue",
            "ts: '2026-11-25T10:00:00' has no UTC offset; end it with 'Z' or an offset like "
            "'+02:00'",
        ],
    )
    batch(
        project,
        status="failed",
        events=55,
        attempts=5,
        hours_ago=3,
        last_error="OperationalError: deadlock detected",
    )
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": 1440, "height": 900}, color_scheme=scheme)
        page = context.new_page()
        log_in(page, live_server.url, owner.username)
        page.goto(f"{live_server.url}/runs/health/")

        assert "1 batch failed to apply." in page.inner_text(".dbg-verdict")
        assert (
            page.locator(".dbg-reason")
            .first.inner_text()
            .startswith("type: unknown event type '…'")
        )
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SHOTS / f"test-health-{scheme}.png", full_page=True)
        context.close()
