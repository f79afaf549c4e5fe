"""Pricing billable tool uses at read time: the price in force on each day, per
currency, unpriced uses counted apart. Pure: no database."""

from datetime import date, datetime
from decimal import Decimal

import pytest

from billing.tool_pricing import (
    ToolCost,
    ToolPriceBook,
    ToolRate,
    normalize_currency,
    tool_use_cost,
    tool_uses_cost,
)

D = Decimal
NOV = {day: date(2026, 11, day) for day in range(1, 31)}


def rate(
    tool: str, price: str, day: int, currency: str = "USD", id_: int | None = None
) -> ToolRate:
    return ToolRate(tool=tool, unit_price=D(price), currency=currency,
                    effective_from=NOV[day], id=id_)  # fmt: skip


WEATHER = [rate("get_weather", "0.002", 1), rate("get_weather", "0.003", 15)]


def test_the_price_in_force_is_the_latest_row_on_or_before_the_day():
    book = ToolPriceBook(WEATHER)

    assert book.price_on("get_weather", NOV[1]).unit_price == D("0.002")
    assert book.price_on("get_weather", NOV[14]).unit_price == D("0.002")
    assert book.price_on("get_weather", NOV[15]).unit_price == D("0.003")
    assert book.price_on("get_weather", NOV[30]).unit_price == D("0.003")


def test_a_use_before_the_first_price_is_unpriced_not_free():
    book = ToolPriceBook(WEATHER)
    assert book.price_on("get_weather", date(2026, 10, 31)) is None
    assert book.first_day("get_weather") == NOV[1]


def test_a_tool_without_any_price_is_unpriced():
    assert ToolPriceBook(WEATHER).price_on("search", NOV[20]) is None
    assert ToolPriceBook(WEATHER).first_day("search") is None


def test_tool_names_match_exactly():
    book = ToolPriceBook(WEATHER)
    assert book.price_on("Get_Weather", NOV[20]) is None
    assert book.price_on("get_weather_v2", NOV[20]) is None


def test_rows_given_in_any_order_price_the_same():
    assert ToolPriceBook(reversed(WEATHER)).price_on("get_weather", NOV[16]) == WEATHER[1]


def test_uses_across_a_price_change_are_each_priced_on_their_own_day():
    cost = tool_uses_cost(WEATHER, [(NOV[10], "get_weather", 100), (NOV[20], "get_weather", 10)])

    # 100 × 0.002 + 10 × 0.003 = 0.20 + 0.03
    assert cost.cost == {"USD": D("0.230")}
    assert (cost.uses, cost.unpriced_uses, cost.priced_uses) == (110, 0, 110)
    assert cost.rates == WEATHER


def test_unpriced_uses_are_counted_and_listed_but_in_no_cost():
    uses = [
        (NOV[20], "get_weather", 4),
        (NOV[20], "search", 7),
        (date(2026, 10, 1), "get_weather", 2),
    ]

    cost = tool_uses_cost(WEATHER, uses)

    assert cost.cost == {"USD": D("0.012")}  # only the 4 priced uses
    assert (cost.uses, cost.unpriced_uses) == (13, 9)


def test_only_unpriced_uses_give_no_cost_at_all_rather_than_zero():
    cost = tool_uses_cost(WEATHER, [(NOV[20], "search", 3)])
    assert cost.cost == {}
    assert cost.costs == []
    assert cost.unpriced_uses == 3


def test_a_tool_priced_at_zero_is_free_not_unpriced():
    cost = tool_uses_cost([rate("ping", "0", 1)], [(NOV[2], "ping", 5)])
    assert cost.cost == {"USD": D("0")}
    assert cost.unpriced_uses == 0


def test_costs_in_different_currencies_are_never_added():
    prices = [rate("get_weather", "0.002", 1), rate("translate", "0.01", 1, "EUR"),
              rate("get_weather", "0.0025", 20, "EUR")]  # fmt: skip
    uses = [(NOV[5], "get_weather", 10), (NOV[5], "translate", 3), (NOV[21], "get_weather", 4)]

    cost = tool_uses_cost(prices, uses)

    assert cost.costs == [("EUR", D("0.0400")), ("USD", D("0.020"))]  # 0.03 + 0.01; 0.02
    assert cost.cost_in("USD") == D("0.020")
    assert cost.cost_in("GBP") == 0
    assert cost.other_currencies == [("EUR", D("0.0400"))]


def test_the_arithmetic_is_exact_for_big_counts_and_tiny_prices():
    price = rate("embed", "0.0000000123", 1)
    assert tool_use_cost(987_654_321_987, price) == D("12148.1481604401")


def test_merged_costs_add_per_currency():
    total = ToolCost()
    a = tool_uses_cost(WEATHER, [(NOV[2], "get_weather", 1), (NOV[2], "search", 1)])
    b = tool_uses_cost([rate("translate", "1.5", 1, "EUR")], [(NOV[2], "translate", 2)])

    total.merge(a)
    total.merge(b)

    assert total.costs == [("EUR", D("3.0")), ("USD", D("0.002"))]
    assert (total.uses, total.unpriced_uses) == (4, 1)
    assert len(total.rates) == 2


def test_of_two_rows_for_one_tool_and_day_the_first_given_wins():
    book = ToolPriceBook([rate("x", "1", 1, id_=1), rate("x", "2", 1, id_=2)])
    assert book.price_on("x", NOV[1]).id == 1


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"unit_price": 0.002}, TypeError),  # a float has already lost the exact value
        ({"unit_price": D("-0.01")}, ValueError),
        ({"unit_price": D("NaN")}, ValueError),
        ({"currency": "usd"}, ValueError),
        ({"currency": "US"}, ValueError),
        ({"tool": "  "}, ValueError),
        ({"effective_from": datetime(2026, 11, 1)}, TypeError),
    ],
)
def test_a_price_row_that_cannot_be_used_is_refused(changes, error):
    fields = {"tool": "get_weather", "unit_price": D("0.002"), "currency": "USD",
              "effective_from": NOV[1]} | changes  # fmt: skip
    with pytest.raises(error):
        ToolRate(**fields)


def test_a_day_must_be_a_date_not_a_timestamp():
    with pytest.raises(TypeError):
        ToolPriceBook(WEATHER).price_on("get_weather", datetime(2026, 11, 20, 23, 0))


@pytest.mark.parametrize(("code", "expected"), [("usd", "USD"), (" eur ", "EUR")])
def test_currency_codes_are_three_letters_upper_case(code, expected):
    assert normalize_currency(code) == expected


@pytest.mark.parametrize("code", ["", "US", "EURO", "U$D", "ÉUR"])
def test_a_currency_that_is_not_three_letters_is_refused(code):
    with pytest.raises(ValueError):
        normalize_currency(code)
