"""The runs list in a real browser: status chips and search narrow the table via htmx;
ticking two runs compares them."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD, apply_now, log_in
from tests.runs.test_views_run_list import run_events

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/ui/polish")  # screenshots stay out of the repo


@pytest.fixture
def runs(transactional_db, project):
    specs = [
        {"run_id": "run_paid_1", "status": "succeeded", "inputs": {"customer": "Initech"}},
        {"run_id": "run_paid_2", "status": "succeeded", "inputs": {"customer": "Globex"}},
        {"run_id": "run_broke_1", "status": "failed", "inputs": {"customer": "Initech"}},
        {"run_id": "run_broke_2", "status": "failed", "inputs": {"customer": "Umbrella"}},
    ]
    apply_now(
        project, [e for n, spec in enumerate(specs) for e in run_events(started=600 - n, **spec)]
    )


def row_ids(page) -> list[str]:
    return page.locator("#runs-results tr[data-row] td.runs-id a").all_inner_texts()


def test_a_status_chip_and_the_search_box_narrow_the_table(live_server, page, owner, runs):
    log_in(page, live_server.url, owner.username, PASSWORD)
    page.goto(f"{live_server.url}/runs/")
    expect(page.locator("#runs-results tr[data-row]")).to_have_count(4)

    page.locator('.runs-chips a[data-status="failed"]').click()
    expect(page).to_have_url(re.compile(r"/runs/\?status=failed$"))
    expect(page.locator("#runs-results tr[data-row]")).to_have_count(2)
    assert sorted(row_ids(page)) == ["run_broke_1", "run_broke_2"]
    expect(page.locator("#runs-results .badge")).to_have_text(["failed", "failed"])
    expect(page.locator('.runs-chips a[data-status="failed"]')).to_have_attribute(
        "aria-pressed", "true"
    )

    page.keyboard.press("/")
    expect(page.locator("#runs-q")).to_be_focused()
    page.keyboard.type("umbrella")
    expect(page.locator("#runs-results tr[data-row]")).to_have_count(1)
    assert row_ids(page) == ["run_broke_2"]
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(page).to_have_url(re.compile(r"q=umbrella"))

    page.go_back()
    expect(page).to_have_url(re.compile(r"/runs/\?status=failed$"))
    expect(page.locator("#runs-results tr[data-row]")).to_have_count(2)
    expect(page.locator("#runs-q")).to_have_value("")


def test_ticking_two_runs_leads_to_their_comparison(live_server, page, owner, runs):
    log_in(page, live_server.url, owner.username, PASSWORD)
    page.goto(f"{live_server.url}/runs/")
    bar = page.locator("[data-compare-bar]")
    go = bar.locator("[data-compare-go]")
    expect(bar).to_be_hidden()

    # One run ticked: the bar offers the picker of runs like it.
    page.locator('tr:has(a[href="/runs/run_paid_1/"]) td.runs-pick label').click()
    expect(bar).to_be_visible()
    expect(go).to_have_text("Compare with…")
    expect(go).to_have_attribute("href", "/runs/compare/?a=run_paid_1")

    # The tick survives an htmx swap of the table, even when its row is filtered out.
    page.locator('.runs-chips a[data-status="failed"]').click()
    expect(page.locator("#runs-results tr[data-row]")).to_have_count(2)
    expect(bar.locator("[data-compare-what] code")).to_have_text(["run_paid_1"])

    # "j" selects the first row, "x" ticks it: two runs, in the order they were ticked.
    page.keyboard.press("j")
    page.keyboard.press("x")
    expect(bar.locator("[data-compare-what] code")).to_have_text(["run_paid_1", "run_broke_2"])
    expect(go).to_have_text("Compare")
    expect(page.locator('[data-compare-pick][value="run_broke_1"]')).to_be_disabled()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "test-runs-compare-bar.png")

    go.click()
    page.wait_for_url("**/runs/compare/?a=run_paid_1&b=run_broke_2")
    expect(page.locator("h1")).to_have_text("Compare runs")
    expect(page.locator(".dbg-cmp-head__id")).to_have_text(["run_paid_1", "run_broke_2"])
