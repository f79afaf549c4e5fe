"""Share links in a real browser: made from the run page, opened logged out with no
secret showing anywhere, ended by revoking in Settings or by expiry."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from runs.models import Run
from shares.models import ShareLink
from shares.services import share_path, sharelink_create
from tests.conftest import log_in
from tests.shares.conftest import RUN_ID, SECRETS

# serialized_rollback: the flush after a transactional test would otherwise also remove
# the rows migrations seed (default model prices) for the tests that run after it.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
SHOTS = Path("/tmp/ui/share")
PANE_SHOWS = """key => {
  const link = document.querySelector('#pane-permalink');
  return link && link.textContent.includes(encodeURIComponent(key));
}"""


@pytest.fixture
def outsider_page(browser):
    """A browser with no session at all: whoever the link was sent to."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    yield context.new_page()
    context.close()


def assert_no_secret(page) -> None:
    html, text = page.content(), page.inner_text("body")
    for secret in SECRETS:
        assert secret not in html and secret not in text, secret


def test_a_link_opens_logged_out_and_shows_no_secret(live_server, outsider_page, secret_run,
                                                      project, owner):  # fmt: skip
    run = Run.objects.get(project=project, run_id=RUN_ID)
    _, token = sharelink_create(run=run, created_by=owner, hours=24)
    page = outsider_page

    response = page.goto(live_server.url + share_path(token))

    assert response.status == 200
    assert response.headers["x-robots-tag"].startswith("noindex")
    assert page.get_by_role("heading", name=RUN_ID).is_visible()
    assert page.locator("#timeline").is_visible()
    assert page.locator("#debug-checklist").is_visible()
    assert page.locator(".redacted").count() > 0  # the markers are drawn
    assert_no_secret(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "shared-run.png"), full_page=True)

    keys = page.eval_on_selector_all("#wf-rows [data-row]", "rows => rows.map(r => r.dataset.key)")
    assert len(keys) > 5
    for key in keys:  # every item's pane, as a visitor clicks through them
        page.click(f'#wf-rows [data-key="{key}"]')
        page.wait_for_function(PANE_SHOWS, arg=key)
        assert_no_secret(page)
    page.click('#wf-rows [data-key^="tool:"] >> text=search')
    page.wait_for_selector("#detail-pane >> text=Output")
    page.screenshot(path=str(SHOTS / "shared-run-tool-pane.png"), full_page=False)

    page.get_by_role("navigation", name="Run views").get_by_role("link", name="Logs").click()
    page.wait_for_selector(".log-view")
    assert page.locator(".log-line").count() > 1
    assert page.locator("#logs-q").count() == 0
    assert_no_secret(page)
    page.locator("#logs").screenshot(path=str(SHOTS / "shared-run-logs.png"))

    page.emulate_media(color_scheme="dark")
    page.goto(live_server.url + share_path(token))
    page.screenshot(path=str(SHOTS / "shared-run-dark.png"))

    assert page.context.cookies() == []  # nothing was set, not even csrftoken
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
    assert all(h.startswith(("?", "#")) for h in hrefs), hrefs


def test_a_member_shares_from_the_run_page_and_revoking_ends_the_link(
    live_server, page, outsider_page, secret_run, owner
):
    log_in(page, live_server.url, owner.username)
    page.goto(f"{live_server.url}/runs/{RUN_ID}/")
    page.get_by_label("Share a read-only link to this run").click()
    page.get_by_label("Expires after").select_option("1")
    page.get_by_role("button", name="Create link").click()
    url = page.locator("#share-url").inner_text().strip()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "run-page-share-menu.png"))
    assert url.startswith(f"{live_server.url}/share/")

    assert outsider_page.goto(url).status == 200
    assert_no_secret(outsider_page)

    page.goto(f"{live_server.url}/settings/#shares")
    row = page.locator(f'[data-share="{ShareLink.objects.get().prefix}"]')
    assert "active" in row.inner_text()
    page.locator("#audit").scroll_into_view_if_needed()
    assert page.locator('[data-audit="share_link.created"]').count() == 1
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    page.wait_for_selector("text=is revoked")
    assert "revoked" in row.inner_text()
    page.locator("#shares").screenshot(path=str(SHOTS / "settings-share-links.png"))
    page.locator("#audit").screenshot(path=str(SHOTS / "settings-audit-log.png"))
    page.locator("#redaction").screenshot(path=str(SHOTS / "settings-redaction.png"))

    response = outsider_page.goto(url)
    assert response.status == 410
    assert outsider_page.get_by_role("heading", name="This share link was revoked").is_visible()
    assert RUN_ID not in outsider_page.content()
    outsider_page.screenshot(path=str(SHOTS / "shared-link-revoked.png"))


def test_an_expired_link_stops_working(live_server, outsider_page, secret_run, project, owner):
    run = Run.objects.get(project=project, run_id=RUN_ID)
    link, token = sharelink_create(run=run, created_by=owner, hours=1)
    url = live_server.url + share_path(token)
    assert outsider_page.goto(url).status == 200

    ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    response = outsider_page.goto(url)
    assert response.status == 410
    assert outsider_page.get_by_role("heading", name="This share link has expired").is_visible()
    assert_no_secret(outsider_page)
