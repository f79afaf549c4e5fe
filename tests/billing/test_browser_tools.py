"""Tool uses and tool prices in a real browser: the usage page's tool chart and tables,
and adding and deleting a tool price on Settings → prices."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import ToolPrice
from billing.services import ToolPriceData, tool_price_create
from runs.ingest.tool_usage import tool_usage_rollup_write
from tests.billing.test_browser_usage import SHOTS, legend
from tests.billing.test_usage_tools import tool_run
from tests.conftest import apply_now, ev, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tool_week(transactional_db, org, project):
    """A week of tool uses by two agents; get_weather and translate priced (one in EUR),
    search never."""
    for tool, unit_price, currency in (("get_weather", "0.002", "USD"),
                                       ("translate", "0.50", "EUR")):  # fmt: skip
        tool_price_create(organization=org, data=ToolPriceData(
            tool=tool, unit_price=Decimal(unit_price), currency=currency,
            effective_from=date(2026, 1, 1)))  # fmt: skip
    apply_now(
        project,
        tool_run("r1", get_weather=5, search=2)
        + tool_run("r2", agent="support-triage", hours=1, get_weather=1, translate=2),
    )
    today = timezone.now().date()
    tool_usage_rollup_write(project_id=project.id, delta={
        (today - timedelta(days=d), agent, tool): (d * 7 + len(tool) + len(agent)) % 13 + 1
        for d in range(1, 7)
        for agent, tools in (("invoice-bot", ("get_weather", "search")),
                             ("support-triage", ("get_weather", "translate")))
        for tool in tools
    })  # fmt: skip


def test_the_usage_page_charts_tool_uses_by_tool_and_lists_their_cost(
    tool_week, owner, live_server, page
):
    log_in(page, live_server.url, owner.username)
    page.goto(f"{live_server.url}/usage/?range=7d&group=model")

    assert legend(page, "tool-uses-chart") == {"get_weather", "search", "translate"}
    assert "EUR" in page.inner_text("[data-stat=tool-cost]")
    assert "USD" in page.inner_text("[data-stat=tool-cost]")
    assert page.inner_text("#tool-table tr[data-tool=search] td:nth-child(4)") == "unpriced"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "usage-tools.png"), full_page=True)
    page.screenshot(path=str(SHOTS / "usage-tools-top.png"))
    page.locator("#tool-usage").screenshot(path=str(SHOTS / "usage-tools-section.png"))
    page.emulate_media(color_scheme="dark")  # the charts redraw in the dark theme's colours
    page.wait_for_timeout(300)
    page.locator("#tool-usage").screenshot(path=str(SHOTS / "usage-tools-section-dark.png"))
    page.emulate_media(color_scheme="light")

    page.click("a[data-group=environment]")
    page.wait_for_url("**group=environment**")
    page.wait_for_selector("#tool-uses-chart .legendtext")
    assert "not kept per environment" in page.inner_text("#tools-title")


def test_an_owner_prices_an_unpriced_tool_and_deletes_a_price(tool_week, owner, live_server, page):
    log_in(page, live_server.url, owner.username)
    page.goto(f"{live_server.url}/settings/prices/#tools")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#tools").screenshot(path=str(SHOTS / "prices-tools.png"))

    page.click("#unpriced-tools a.btn")  # "Price it": the form is filled in for search
    page.wait_for_url("**tool=search**")
    assert page.input_value("#tool-add input[name=tool]") == "search"
    page.fill("#tool-add input[name=unit_price]", "-1")
    page.fill("#tool-add input[name=currency]", "eu")
    page.click("#tool-add button[type=submit]")
    page.wait_for_selector("#tool-add .field__error")
    errors = page.inner_text("#tool-add")
    assert "0 or more." in errors and "3 letters." in errors
    page.locator("#tools").screenshot(path=str(SHOTS / "prices-tools-errors.png"))

    page.fill("#tool-add input[name=unit_price]", "0.01")
    page.fill("#tool-add input[name=currency]", "usd")
    page.click("#tool-add button[type=submit]")
    page.wait_for_selector(".messages >> text=Price for search")
    assert "Unpriced tool uses" not in page.inner_text("#tools")

    page.on("dialog", lambda dialog: dialog.accept())
    row = ToolPrice.objects.get(tool="translate")
    page.click(f"tr[data-tool-price='{row.pk}'] button")
    page.wait_for_selector(".messages >> text=Price for translate")
    assert not ToolPrice.objects.filter(pk=row.pk).exists()
    assert "translate" in page.inner_text("#unpriced-tools")  # its uses are unpriced again
    page.locator("#tools").screenshot(path=str(SHOTS / "prices-tools-after.png"))
    page.goto(f"{live_server.url}/settings/prices/")  # from the top: sticky bars stay put
    page.screenshot(path=str(SHOTS / "prices-page.png"), full_page=True)


def test_the_revenue_page_takes_tool_cost_from_the_margin(
    transactional_db, org, project, revenue_book, owner, live_server, page
):
    tool_price_create(organization=org, data=ToolPriceData(
        tool="get_weather", unit_price=Decimal("0.25"), currency="USD",
        effective_from=date(2026, 1, 1)))  # fmt: skip
    apply_now(project, [ev("tool_usage", "rv1", at=6, seq=20, tool="get_weather", count=10)])
    log_in(page, live_server.url, owner.username)
    page.goto(f"{live_server.url}/revenue/?range=all&currency=USD")

    row = page.locator("table[data-table=agents] tr[data-agent=invoice-bot]")
    assert "2.50" in row.locator("td[data-tool-cost]").inner_text()
    assert row.locator("td[data-margin]").get_attribute("data-margin") == "14.2855"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#currency-USD table[data-table=agents]").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "revenue-margin-tools.png"))
