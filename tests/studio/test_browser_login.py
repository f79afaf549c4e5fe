"""Logging in and out in a real browser."""

import pytest

from studio.services import project_get_or_create
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_owner_logs_in_sees_nav_and_switcher_and_logs_out(live_server, page, owner, project):
    page.goto(f"{live_server.url}/runs/")
    page.wait_for_url("**/login/?next=/runs/")

    page.fill("#id_username", "olivia")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/runs/")

    nav = page.get_by_role("navigation", name="Main")
    links = nav.get_by_role("link").all_inner_texts()
    assert links == ["Runs", "Errors", "Usage", "Revenue", "Alerts", "Settings"]
    assert nav.get_by_role("link", name="Runs").get_attribute("aria-current") == "page"
    switcher = page.get_by_role("form", name="Organization and project")
    assert "Acme" in switcher.inner_text()
    project_select = page.get_by_label("Project", exact=True)
    assert project_select.input_value() == str(project.id)

    page.get_by_label("Account menu").click()
    assert page.get_by_text("Owner in Acme").is_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server.url}/login/")

    page.goto(f"{live_server.url}/runs/")
    page.wait_for_url("**/login/?next=/runs/")


def test_a_wrong_password_keeps_the_user_on_the_login_form(live_server, page, owner):
    page.goto(f"{live_server.url}/login/")

    page.fill("#id_username", "olivia")
    page.fill("#id_password", "not-the-password")
    page.get_by_role("button", name="Sign in").click()

    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "correct username and password" in alert.inner_text()
    assert page.url == f"{live_server.url}/login/"


def test_choosing_a_project_in_the_switcher_opens_it(live_server, page, owner, org, project):
    second = project_get_or_create(organization=org, name="Support agent")
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "olivia")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/runs/")

    with page.expect_navigation():
        page.get_by_label("Project", exact=True).select_option(label="Support agent")

    assert page.url == f"{live_server.url}/runs/"
    assert page.get_by_label("Project", exact=True).input_value() == str(second.id)


def test_over_plain_http_with_secure_cookies_the_login_page_says_what_to_set(
    live_server, browser, owner, settings
):
    """A real browser on a non-loopback http address drops Secure cookies; the page says
    so before the user tries, and the refused form says it again instead of failing."""
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "studio.test"]

    port = live_server.url.rsplit(":", 1)[1]
    chromium = browser.browser_type.launch(
        executable_path="/usr/bin/chromium",
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--host-resolver-rules=MAP studio.test 127.0.0.1",
        ],
    )
    try:
        page = chromium.new_page()
        page.goto(f"http://studio.test:{port}/login/")
        notice = page.locator("[data-cookies-need-https]")
        assert "SECURE_COOKIES=0" in notice.inner_text()

        page.fill("#id_username", "olivia")
        page.fill("#id_password", PASSWORD)
        page.get_by_role("button", name="Sign in").click()

        page.get_by_role("heading", name="Studio refused this form").wait_for()
        assert "SECURE_COOKIES=0" in page.locator("[data-cookies-need-https]").inner_text()
    finally:
        chromium.close()
