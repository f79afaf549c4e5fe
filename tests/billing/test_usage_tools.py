"""Billable tool uses on the usage page: tool cost beside model cost, per currency, by
tool and by agent, priced at read time; unpriced uses counted, never as 0."""

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.selectors import tool_days, tool_usage_report
from billing.services import ToolPriceData, tool_price_create
from runs.ingest.tool_usage import tool_usage_rollup_write
from tests.billing.test_views_billing import hours_ago, recent_run
from tests.conftest import apply_now, ev

D = Decimal


def price(org, tool: str, unit_price: str, currency: str = "USD", since: date | None = None):
    data = ToolPriceData(tool=tool, unit_price=D(unit_price), currency=currency,
                         effective_from=since or date(2026, 1, 1))  # fmt: skip
    return tool_price_create(organization=org, data=data)


def tool_run(run_id: str, *, agent: str = "invoice-bot", hours: float = 2, **uses: int) -> list:
    """A recent run with a usage call and `tool=count` billable tool uses."""
    at = hours_ago(hours)
    return recent_run(run_id, agent=agent, hours=hours) + [
        ev("tool_usage", run_id, at=at + 1.5, seq=10 + n, agent=agent, tool=tool, count=count)
        for n, (tool, count) in enumerate(uses.items())
    ]


def stat(page: str, name: str) -> str:
    start = page.index(f'data-stat="{name}"')
    return page[start : page.index("</div>\n", start)]


@pytest.fixture
def tool_fleet(org, project):
    """get_weather 0.002 USD, translate 0.50 EUR, search unpriced:
    invoice-bot     get_weather 5, search 2   → 0.01 USD, 2 unpriced
    support-triage  get_weather 1, translate 2 → 0.002 USD and 1.00 EUR
    """
    price(org, "get_weather", "0.002")
    price(org, "translate", "0.50", "EUR")
    apply_now(
        project,
        tool_run("r1", get_weather=5, search=2)
        + tool_run("r2", agent="support-triage", hours=1, get_weather=1, translate=2),
    )


def test_the_usage_page_shows_tool_cost_per_currency_beside_model_cost(owner_client, tool_fleet):
    page = owner_client.get("/usage/?range=7d").content.decode()

    assert page.index('data-stat="cost"') < page.index('data-stat="tool-cost"')
    tool_cost = stat(page, "tool-cost")
    assert "0.012" in tool_cost and ">USD<" in tool_cost  # 6 × 0.002
    assert "1.00" in tool_cost and ">EUR<" in tool_cost
    assert "1.012" not in page  # USD and EUR never added
    assert "10 billable tool uses" in page
    assert "2 unpriced, not counted" in page


def test_the_tool_table_has_uses_unit_price_cost_and_unpriced_uses_per_tool(
    owner_client, tool_fleet
):
    page = owner_client.get("/usage/?range=7d").content.decode()
    table = page[page.index('id="tool-table"') :]
    rows = {
        tool: table[table.index(f'data-tool="{tool}"') :].split("</tr>")[0]
        for tool in ("get_weather", "translate", "search")
    }

    assert table.index('data-tool="get_weather"') < table.index('data-tool="search"')  # by uses
    assert ">6<" in rows["get_weather"] and "0.002" in rows["get_weather"]
    assert "0.012" in rows["get_weather"]
    assert (
        "0.50" in rows["translate"] and "1.00" in rows["translate"] and "EUR" in rows["translate"]
    )
    assert ">unpriced<" in rows["search"]  # never 0.00
    assert "0.00" not in rows["search"]
    assert "?tool=search#tool-add" in rows["search"]
    assert 'class="num tool-unpriced">2<' in rows["search"]


def test_the_tool_table_by_agent_has_each_agents_uses_and_cost(owner_client, tool_fleet):
    page = owner_client.get("/usage/?range=7d").content.decode()
    table = page[page.index('id="tool-agent-table"') :].split("</table>")[0]

    invoice = table[table.index('data-agent="invoice-bot"') :].split("</tr>")[0]
    triage = table[table.index('data-agent="support-triage"') :].split("</tr>")[0]
    assert ">7<" in invoice and "0.01" in invoice and "+2 unpriced" in invoice
    assert ">3<" in triage and "0.002" in triage and "1.00" in triage


def test_the_tool_chart_has_one_series_per_tool_per_day(owner_client, tool_fleet):
    response = owner_client.get("/usage/?range=7d")
    chart = response.context["charts"]["tool_uses"]

    assert {trace["name"] for trace in chart["data"]} == {"get_weather", "translate", "search"}
    assert len(chart["data"][0]["x"]) == len(response.context["tools"].days)
    assert 'id="chart-tool-uses"' in response.content.decode()
    json.dumps(chart)  # plain JSON, no Decimal


def test_grouping_by_environment_says_tool_uses_have_no_environment(owner_client, tool_fleet):
    page = owner_client.get("/usage/?range=7d&group=environment").content.decode()
    assert "they are not kept per environment, so they are shown by tool and agent" in page


def test_the_htmx_partial_carries_the_tool_section_too(owner_client, tool_fleet):
    body = owner_client.get("/usage/?range=24h&group=agent", HTTP_HX_REQUEST="true")
    assert 'id="tool-table"' in body.content.decode()


def test_a_project_without_tool_uses_shows_no_tool_section(owner_client, project):
    apply_now(project, recent_run("r1"))
    page = owner_client.get("/usage/?range=24h").content.decode()
    assert 'id="tool-usage"' not in page
    assert "no billable tool uses" in page


def test_a_range_without_tool_uses_says_so_when_the_project_has_some(owner_client, project):
    long_ago = timezone.now().date() - timedelta(days=60)
    tool_usage_rollup_write(project_id=project.id, delta={(long_ago, "invoice-bot", "x"): 3})
    apply_now(project, recent_run("r1"))

    page = owner_client.get("/usage/?range=24h").content.decode()

    assert 'id="tool-usage"' in page
    assert "No billable tool use on these days" in page


def test_another_organizations_tool_price_does_not_price_this_ones_uses(
    owner_client, project, other_org
):
    price(other_org, "get_weather", "1.00")
    apply_now(project, tool_run("r1", get_weather=3))

    page = owner_client.get("/usage/?range=24h").content.decode()

    assert ">unpriced<" in stat(page, "tool-cost")
    assert "3.00" not in page


def test_a_price_added_after_the_uses_prices_them_at_once(owner_client, org, project):
    apply_now(project, tool_run("r1", get_weather=3))
    assert ">unpriced<" in stat(owner_client.get("/usage/?range=24h").content.decode(), "tool-cost")

    price(org, "get_weather", "0.25")

    assert "0.75" in stat(owner_client.get("/usage/?range=24h").content.decode(), "tool-cost")


def test_the_usage_page_costs_the_same_queries_with_tool_uses_of_many_tools_and_agents(
    owner_client, org, project, django_assert_max_num_queries
):
    price(org, "t0", "0.01")
    apply_now(project, tool_run("r0", t0=1))
    with django_assert_max_num_queries(9) as few:
        owner_client.get("/usage/?range=90d")
    today = timezone.now().date()
    tool_usage_rollup_write(project_id=project.id, delta={
        (today - timedelta(days=d), f"agent-{a}", f"t{t}"): d + 1
        for d in range(60) for a in range(4) for t in range(6)
    })  # fmt: skip
    for t in range(6):
        price(org, f"t{t}", "0.01", since=today - timedelta(days=30 + t))

    with django_assert_max_num_queries(len(few)):
        page = owner_client.get("/usage/?range=90d").content.decode()
    assert page.count("data-tool=") == 6


# ── The selector ──────────────────────────────────────────────────────────────────


def test_a_range_that_starts_mid_day_reads_that_whole_day():
    start = datetime(2026, 11, 19, 13, 0, tzinfo=UTC)
    assert tool_days(start, start + timedelta(hours=24)) == (date(2026, 11, 19), date(2026, 11, 20))
    midnight = datetime(2026, 11, 1, tzinfo=UTC)
    assert tool_days(midnight, midnight + timedelta(days=30)) == (
        date(2026, 11, 1), date(2026, 11, 30)
    )  # fmt: skip


def test_a_price_change_inside_the_range_prices_each_day_at_its_own_price(org, project):
    price(org, "get_weather", "0.002", since=date(2026, 11, 1))
    price(org, "get_weather", "0.003", since=date(2026, 11, 15))
    tool_usage_rollup_write(project_id=project.id, delta={
        (date(2026, 11, 10), "invoice-bot", "get_weather"): 100,
        (date(2026, 11, 20), "invoice-bot", "get_weather"): 10,
        (date(2026, 11, 20), "", "get_weather"): 1,
    })  # fmt: skip

    report = tool_usage_report(
        project=project, first_day=date(2026, 11, 1), last_day=date(2026, 11, 30)
    )

    (row,) = report.tools
    assert row.cost.cost == {"USD": D("0.233")}  # 0.2 + 0.03 + 0.003
    assert [r.unit_price for r in row.cost.rates] == [D("0.002"), D("0.003")]
    assert {a.name: a.cost.uses for a in report.agents} == {"invoice-bot": 110, "(no agent)": 1}
    assert report.uses["get_weather"][9] == 100 and report.uses["get_weather"][19] == 11
    assert len(report.days) == 30


def test_days_outside_the_range_and_other_projects_are_not_read(project, other_project):
    tool_usage_rollup_write(project_id=project.id, delta={
        (date(2026, 10, 31), "a", "x"): 1, (date(2026, 11, 1), "a", "x"): 2,
        (date(2026, 11, 3), "a", "x"): 4,
    })  # fmt: skip
    tool_usage_rollup_write(project_id=other_project.id, delta={(date(2026, 11, 2), "a", "x"): 8})

    report = tool_usage_report(
        project=project, first_day=date(2026, 11, 1), last_day=date(2026, 11, 2)
    )

    assert report.total.uses == 2
    assert report.uses == {"x": [2, 0]}
