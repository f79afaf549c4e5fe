"""Margin with tool cost: net − model cost − tool cost per agent, in USD, against the
book in tests/billing/conftest.py (invoice-bot's margin there is 16.7855, the total
165.7855). Tool uses of rv1 (invoice-bot, Nov 20):
  get_weather 10 × 0.002 USD = 0.02   → invoice-bot margin 16.7655, total 165.7655
  translate    2 × 0.50 EUR  = 1.00 EUR (shown, not in the USD margin)
  search       3, unpriced (counted, not in the margin)
and data-sync, an agent with tool uses only: lookup 4 × 0.25 USD = 1.00 → margin −1.00
"""

from datetime import date
from decimal import Decimal

import pytest

from billing.selectors import RevenueFilters, revenue_summary
from billing.services import ToolPriceData, tool_price_create
from tests.conftest import apply_now, ev

D = Decimal
TODAY = date(2026, 11, 25)


def usd(project, **params):
    filters = RevenueFilters.from_params({"range": "all", **params}, today=TODAY)
    sections = {s.currency: s for s in revenue_summary(project=project, filters=filters).sections}
    return sections["USD"]


@pytest.fixture
def tool_book(org, project, revenue_book):
    for tool, unit_price, currency in (
        ("get_weather", "0.002", "USD"),
        ("translate", "0.50", "EUR"),
        ("lookup", "0.25", "USD"),
    ):
        tool_price_create(organization=org, data=ToolPriceData(
            tool=tool, unit_price=D(unit_price), currency=currency,
            effective_from=date(2026, 1, 1)))  # fmt: skip
    apply_now(project, [
        ev("tool_usage", "rv1", at=6, seq=20, tool="get_weather", count=10),
        ev("tool_usage", "rv1", at=7, seq=21, tool="translate", count=2),
        ev("tool_usage", "rv1", at=8, seq=22, tool="search", count=3),
        ev("run_start", "ds1", at=100, seq=0, agent="data-sync"),
        ev("tool_usage", "ds1", at=101, seq=1, agent="data-sync", tool="lookup", count=4),
    ])  # fmt: skip


def test_margin_takes_tool_cost_as_well_as_model_cost(project, tool_book):
    section = usd(project)
    agents = {row.name: row for row in section.agents}

    bot = agents["invoice-bot"]
    assert (bot.cost, bot.tool_cost, bot.margin) == (D("0.0045"), D("0.020"), D("16.7655"))
    assert agents["support-triage"].margin == D("149.00")
    assert section.tool_cost == D("1.020")
    assert section.margin == D("165.79") - D("0.0045") - D("1.020")


def test_an_agent_with_tool_uses_but_no_revenue_shows_its_loss(project, tool_book):
    sync = {row.name: row for row in usd(project).agents}["data-sync"]
    assert sync.sums.net == 0
    assert (sync.tool_cost, sync.margin) == (D("1.00"), D("-1.00"))


def test_tool_cost_in_another_currency_is_shown_but_not_taken_from_the_usd_margin(
    project, tool_book
):
    section = usd(project)
    assert section.tools.other_currencies == [("EUR", D("1.00"))]
    assert section.tools.unpriced_uses == 3


def test_the_agent_filter_narrows_tool_cost_too(project, tool_book):
    section = usd(project, agent="invoice-bot")
    assert [row.name for row in section.agents] == ["invoice-bot"]
    assert section.tool_cost == D("0.020")


def test_a_day_range_narrows_tool_cost(project, tool_book):
    section = usd(project, **{"from": "2026-11-05", "to": "2026-11-19"})  # uses were on Nov 20
    assert (section.tool_cost, section.tools.uses) == (0, 0)


def test_a_customer_filter_leaves_tool_cost_out_as_it_does_model_cost(project, tool_book):
    section = usd(project, customer="cus_a")
    assert section.tools is None and not section.has_margin


def test_the_revenue_page_shows_the_tool_cost_column_and_the_margin_with_it(
    owner_client, tool_book
):
    page = owner_client.get("/revenue/?range=all").content.decode()

    assert '<th class="num">Tool cost</th>' in page
    assert 'data-tool-cost="0.02"' in page
    assert 'data-margin="16.7655"' in page
    assert "tool cost" in page and "3 unpriced tool uses" in page
    assert "tool cost not in it" in page  # the EUR part


def test_the_summary_reads_tool_uses_and_prices_in_two_queries(
    project, tool_book, django_assert_num_queries
):
    filters = RevenueFilters.from_params({"range": "all"}, today=TODAY)
    with django_assert_num_queries(6):
        revenue_summary(project=project, filters=filters)
