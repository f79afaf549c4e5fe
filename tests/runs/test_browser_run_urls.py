"""A browser opens runs whose ids hold `/`, `..` or `%` from the runs list: it resolves dot
segments and decodes nothing it should not."""

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD, apply_now, log_in
from tests.runs.test_views_run_list import run_events

pytestmark = pytest.mark.browser
RUN_IDS = ["team-a/nightly/7", "a/../b", "50% off#1"]


@pytest.fixture
def runs(transactional_db, project):
    apply_now(project, [e for run_id in RUN_IDS for e in run_events(run_id, status="failed")])


def test_clicking_a_run_with_an_awkward_id_opens_its_page(live_server, page, owner, runs):
    log_in(page, live_server.url, owner.username, PASSWORD)
    for run_id in RUN_IDS:
        page.goto(f"{live_server.url}/runs/")
        page.locator("#runs-results td.runs-id a", has_text=run_id).click()

        expect(page.locator("#run-detail")).to_have_attribute("data-run-id", run_id)
        expect(page.locator(".rd-crumbs .mono")).to_have_text(run_id)
        # The debug checklist loads from its own URL, which opens as a page too.
        expect(page.locator("#checklist #debug-checklist")).to_be_visible()
        page.goto(live_server.url + page.locator("#checklist").get_attribute("hx-get"))
        expect(page.locator(".page-header [data-copy]")).to_have_attribute("data-copy", run_id)
        page.locator(".page-header__actions a", has_text="Open run").click()
        expect(page.locator("#run-detail")).to_have_attribute("data-run-id", run_id)
