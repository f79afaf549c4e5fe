"""The Alerts page in a real browser: the empty state says what to do, an owner adds a
webhook and a rule through the forms, sends a test, and an incident links to its runs."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from alerts.deliveries import deliveries_send_now
from alerts.evaluation import alerts_evaluate
from tests.alerts.test_incidents import runs
from tests.conftest import log_in

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/ui/alerts")  # screenshots stay out of the repo


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


def test_the_empty_page_says_what_to_do_next(live_server, page, owner):
    log_in(page, live_server.url, owner.username)
    page.goto(f"{live_server.url}/alerts/")

    expect(page.locator("nav.nav a[aria-current=page]")).to_have_text("Alerts")
    expect(page.get_by_role("heading", name="No alert rules yet")).to_be_visible()
    expect(page.locator(".empty-state pre")).to_contain_text("manage.py addalert --project")
    expect(page.get_by_role("button", name="Add rule")).to_be_visible()
    shoot(page, "empty.png")


def test_an_owner_sets_up_a_webhook_rule_and_follows_its_incident_to_the_runs(
    live_server, page, owner, project, webhook_receiver
):
    log_in(page, live_server.url, owner.username)
    page.goto(f"{live_server.url}/alerts/")

    page.select_option("#channel-type", "webhook")
    page.fill("#channel-target", webhook_receiver.url)
    page.get_by_role("button", name="Add channel").click()
    expect(page.locator("#new-secret")).to_contain_text("Copy it now")
    secret = page.locator("#new-secret pre").inner_text()
    assert len(secret) == 48

    page.locator("tr[data-channel]").get_by_role("button", name="Send test").click()
    expect(page.locator(".messages")).to_contain_text("(HTTP 200)")
    assert webhook_receiver.bodies()[0]["event"] == "test"
    expect(page.locator("#new-secret")).to_have_count(0)  # shown once

    page.select_option("#rule-kind", "failure_rate")
    page.fill("#rule-name", "Invoices failing")
    page.fill("#rule-threshold", "50")
    page.fill("#rule-min-runs", "5")
    page.get_by_role("button", name="Add rule").click()
    expect(page.locator("tr[data-rule]")).to_have_count(1)
    expect(page.locator("tr[data-rule] .badge")).to_have_text("ok")

    runs(project, failed=8, succeeded=2)
    deliveries_send_now(alerts_evaluate().delivery_ids)
    page.reload()

    expect(page.locator("tr[data-rule] .badge")).to_have_text("firing")
    incident = page.locator("tr[data-incident]")
    expect(incident).to_contain_text("Failure rate 80.0%")
    expect(page.locator("tr[data-delivery]")).to_have_count(2)
    shoot(page, "with-incident.png")
    page.emulate_media(color_scheme="dark")
    shoot(page, "with-incident-dark.png")
    page.emulate_media(color_scheme="light")

    page.locator("tr[data-rule]").get_by_role("link", name="Edit").click()
    page.fill("#rule-threshold", "75")
    shoot(page, "rule-edit.png")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator("tr[data-rule]")).to_contain_text("failed > 75%")

    incident.get_by_role("link", name="Open →").click()
    expect(page).to_have_url(re.compile(r"/runs/\?status=failed&since="))
    expect(page.locator("#runs-results tr[data-row]")).to_have_count(8)
