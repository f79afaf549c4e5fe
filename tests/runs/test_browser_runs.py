"""The runs list in a real browser: status chips and search narrow the table via htmx."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD, apply_now, log_in
from tests.runs.test_views_run_list import run_events

pytestmark = pytest.mark.browser


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
