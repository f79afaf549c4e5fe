"""Revenue summaries per currency, margin, and the billing event list, against the
hand-computed book in tests/billing/conftest.py (the arithmetic is written out there)."""

from datetime import date
from decimal import Decimal

import pytest

from billing.selectors import (
    FilterError,
    RevenueFilters,
    decimal_text,
    filled_periods,
    revenue_events_page,
    revenue_summary,
)

D = Decimal
TODAY = date(2026, 11, 25)


def summary(project, **params):
    filters = RevenueFilters.from_params({"range": "all", **params}, today=TODAY)
    return {s.currency: s for s in revenue_summary(project=project, filters=filters).sections}


def all_events(project, page_size: int = 50, **params) -> list:
    filters = RevenueFilters.from_params({"range": "all", **params}, today=TODAY)
    events, cursor = [], None
    while True:
        page = revenue_events_page(project=project, filters=filters, cursor=cursor, limit=page_size)
        events += page.events
        if not page.next_cursor:
            return events
        cursor = page.next_cursor


def test_each_currency_has_its_own_totals(project, revenue_book):
    sections = summary(project)

    assert list(sections) == ["EUR", "USD"]
    usd = sections["USD"].total
    assert (usd.charges, usd.subscriptions, usd.gross) == (D("122.79"), D("49.00"), D("171.79"))
    assert (usd.refunds, usd.credits, usd.net) == (D("5.00"), D("1.00"), D("165.79"))
    assert (usd.payouts, usd.events) == (D("10.00"), 9)
    eur = sections["EUR"].total
    assert (eur.gross, eur.refunds, eur.net, eur.events) == (D("12.50"), D("2.50"), D("10.00"), 2)


def test_re_sent_events_are_counted_once(project, revenue_book):
    usd = summary(project)["USD"]
    cus_b = next(row for row in usd.customers if row.name == "cus_b")
    # ch_1 and ch_2 were each sent twice
    assert cus_b.sums.charges == D("0.30")


def test_decimal_sums_are_exact_where_floats_are_not(project, revenue_book):
    cus_b = next(row for row in summary(project)["USD"].customers if row.name == "cus_b")
    assert 0.1 + 0.2 != 0.3  # what a float would have done to these two charges
    assert cus_b.sums.charges == D("0.3")
    assert decimal_text(cus_b.sums.charges) == "0.30"
    assert cus_b.sums.net == D("-0.70")
    assert isinstance(cus_b.sums.net, Decimal)


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        ("day", {date(2026, 10, 30): "100.00", date(2026, 11, 5): "49.00",
                 date(2026, 11, 19): "2.50", date(2026, 11, 20): "14.29"}),
        ("week", {date(2026, 10, 26): "100.00", date(2026, 11, 2): "49.00",
                  date(2026, 11, 16): "16.79"}),
        ("month", {date(2026, 10, 1): "100.00", date(2026, 11, 1): "65.79"}),
    ],
)  # fmt: skip
def test_net_by_day_week_and_month(project, revenue_book, period, expected):
    periods = summary(project, period=period)["USD"].periods
    assert {row.start: row.sums.net for row in periods} == {k: D(v) for k, v in expected.items()}


def test_a_late_event_counts_on_its_own_day(project, revenue_book):
    eur = {row.start: row.sums for row in summary(project)["EUR"].periods}
    assert eur[date(2026, 11, 21)].refunds == D("2.50")
    usd = {row.start: row.sums for row in summary(project)["USD"].periods}
    assert usd[date(2026, 11, 19)].charges == D("2.50")


def test_net_and_margin_per_agent_in_usd(project, revenue_book):
    usd = summary(project)["USD"]
    agents = {row.name: (row.sums.net, row.cost, row.margin) for row in usd.agents}

    assert agents == {
        "invoice-bot": (D("16.79"), D("0.0045"), D("16.7855")),
        "support-triage": (D("149.00"), D(0), D("149.00")),
    }
    assert (usd.cost, usd.margin) == (D("0.0045"), D("165.7855"))


def test_no_margin_is_computed_across_currencies(project, revenue_book):
    eur = summary(project)["EUR"]
    assert not eur.has_margin
    assert eur.margin is None
    assert all(agent.margin is None for agent in eur.agents)


def test_top_customers_by_net(project, revenue_book):
    customers = [(row.name, row.sums.net) for row in summary(project)["USD"].customers]
    assert customers == [
        ("cus_c", D("149.00")), ("cus_a", D("17.49")), ("", D("0.00")), ("cus_b", D("-0.70")),
    ]  # fmt: skip


def test_filters_narrow_the_summary(project, revenue_book):
    assert list(summary(project, currency="eur")) == ["EUR"]
    by_agent = summary(project, agent="support-triage")
    assert list(by_agent) == ["USD"]
    assert by_agent["USD"].total.net == D("149.00")
    one_day = summary(project, **{"from": "2026-11-20", "to": "2026-11-20"})
    assert one_day["USD"].total.net == D("14.29")
    assert one_day["EUR"].total.net == D("12.50")  # the refund came on Nov 21


def test_a_customer_filter_leaves_margin_out_because_cost_is_not_per_customer(
    project, revenue_book
):
    usd = summary(project, customer="cus_a")["USD"]
    assert usd.total.net == D("17.49")
    assert not usd.has_margin


def test_the_default_range_is_the_last_30_days():
    filters = RevenueFilters.from_params({}, today=TODAY)
    assert (filters.since, filters.until) == (date(2026, 10, 27), None)
    assert filters.range == "30d"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "yesterday"}, "from: expected a day"),
        ({"from": "2026-11-20", "to": "2026-11-01"}, "must not be after"),
        ({"kind": "gift"}, "kind: use one of"),
        ({"currency": "dollars"}, "currency: a 3-letter code"),
        ({"period": "year"}, "period: use one of"),
        ({"range": "1000d"}, "range: use one of"),
    ],
)
def test_a_bad_filter_says_which_parameter_is_wrong(params, message):
    with pytest.raises(FilterError, match=message):
        RevenueFilters.from_params(params, today=TODAY)


def test_the_event_list_is_newest_first_and_pages_without_gaps_or_repeats(project, revenue_book):
    one_page = all_events(project, page_size=50)
    by_twos = all_events(project, page_size=2)

    assert [e.pk for e in by_twos] == [e.pk for e in one_page]
    assert len(one_page) == 11  # 9 USD + 2 EUR; re-sent ones are not there
    assert [e.ts for e in one_page] == sorted((e.ts for e in one_page), reverse=True)


def test_kind_and_charge_filters_narrow_the_list(project, revenue_book):
    refunds = all_events(project, kind="refund")
    assert [(e.external_id, e.refund_of) for e in refunds] == [
        ("re_e1", "ch_e1"), ("re_1", "ch_3"),
    ]  # fmt: skip
    charge_and_refunds = all_events(project, charge="ch_3")
    assert [e.external_id for e in charge_and_refunds] == ["re_1", "ch_3"]


def test_the_list_links_each_event_to_its_run(project, revenue_book):
    sub = next(e for e in all_events(project) if e.external_id == "sub_1")
    assert sub.run.run_id == "rv2"


def test_the_summary_costs_five_queries_without_tool_uses_and_a_page_one(
    project, revenue_book, django_assert_num_queries
):
    # Four revenue rollup and model cost reads, then tool uses (none here: so no tool
    # prices to read; with them it is six, see test_revenue_tool_cost.py).
    filters = RevenueFilters.from_params({"range": "all"}, today=TODAY)
    with django_assert_num_queries(5):
        revenue_summary(project=project, filters=filters)
    with django_assert_num_queries(1):
        revenue_events_page(project=project, filters=filters)


def test_another_projects_revenue_is_not_shown(project, other_project, revenue_book):
    from tests.billing.conftest import money
    from tests.conftest import apply_now

    apply_now(other_project, [money("x", 0, "charge", "1000.00", external_id="ch_other")])
    assert summary(project)["USD"].total.net == D("165.79")
    assert all(e.external_id != "ch_other" for e in all_events(project))


@pytest.mark.parametrize(
    ("amount", "text"),
    [("12.500000", "12.50"), ("0.333333", "0.333333"), ("-3", "-3.00"), ("100", "100.00"),
     ("0.000001", "0.000001"), ("1E+3", "1000.00")],
)  # fmt: skip
def test_amounts_are_written_exactly(amount, text):
    assert decimal_text(D(amount)) == text


def test_a_float_amount_is_refused():
    with pytest.raises(TypeError):
        decimal_text(0.1)


def test_the_chart_gets_zeros_for_quiet_days(project, revenue_book):
    filters = RevenueFilters.from_params({"from": "2026-11-18", "to": "2026-11-21"}, today=TODAY)
    usd = {s.currency: s for s in revenue_summary(project=project, filters=filters).sections}["USD"]

    filled = filled_periods(usd.periods, filters=filters, today=TODAY)

    assert [(row.start.day, row.sums.net) for row in filled] == [
        (18, D(0)), (19, D("2.50")), (20, D("14.29")), (21, D(0)),
    ]  # fmt: skip


def test_months_are_filled_month_by_month(project, revenue_book):
    filters = RevenueFilters.from_params({"range": "all", "period": "month"}, today=TODAY)
    usd = {s.currency: s for s in revenue_summary(project=project, filters=filters).sections}["USD"]
    filled = filled_periods(usd.periods, filters=filters, today=date(2027, 1, 9))
    assert [row.start for row in filled] == [
        date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1),
    ]  # fmt: skip


def test_only_the_top_customers_are_listed_with_a_count_of_the_rest(
    project, revenue_book, monkeypatch
):
    monkeypatch.setattr("billing.selectors.revenue.TOP_CUSTOMERS", 2)
    usd = summary(project)["USD"]
    assert [row.name for row in usd.customers] == ["cus_c", "cus_a"]
    assert usd.more_customers == 2  # (none) and cus_b
