"""Model price lookup, cost arithmetic and money display (pure Python, no database)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, localcontext

import pytest

from billing.pricing import (
    DEFAULT_PRICES,
    Price,
    Usage,
    cost_of,
    find_price,
    format_money,
    money,
)

D = Decimal
TODAY = date(2025, 11, 1)


def price(
    pattern: str,
    match: str = "prefix",
    effective_from: date = date(2024, 1, 1),
    input_per_m: str = "1",
    output_per_m: str = "2",
    cache_read_per_m: str = "0.1",
    cache_write_per_m: str = "1.25",
    id: int | None = None,
) -> Price:
    return Price(
        id=id,
        model_pattern=pattern,
        match=match,  # type: ignore[arg-type]
        effective_from=effective_from,
        input_per_m=D(input_per_m),
        output_per_m=D(output_per_m),
        cache_read_per_m=D(cache_read_per_m),
        cache_write_per_m=D(cache_write_per_m),
    )


# --- which row prices a model ----------------------------------------------------------


def test_dated_model_variant_uses_its_family_price() -> None:
    gpt_4o = find_price(DEFAULT_PRICES, "gpt-4o-2024-08-06", TODAY)
    sonnet = find_price(DEFAULT_PRICES, "claude-sonnet-4-5-20250929", TODAY)

    assert gpt_4o is not None and gpt_4o.model_pattern == "gpt-4o"
    assert (gpt_4o.input_per_m, gpt_4o.output_per_m) == (D("2.50"), D("10.00"))
    assert sonnet is not None and sonnet.model_pattern == "claude-sonnet-4-5"


def test_mini_model_is_not_priced_as_its_bigger_sibling() -> None:
    mini = find_price(DEFAULT_PRICES, "gpt-4o-mini-2024-07-18", TODAY)
    o3_mini = find_price(DEFAULT_PRICES, "o3-mini", TODAY)
    flash_lite = find_price(DEFAULT_PRICES, "gemini-2.5-flash-lite", TODAY)

    assert mini is not None and mini.model_pattern == "gpt-4o-mini"
    assert (mini.input_per_m, mini.output_per_m) == (D("0.15"), D("0.60"))
    assert o3_mini is not None and o3_mini.model_pattern == "o3-mini"
    assert flash_lite is not None and flash_lite.model_pattern == "gemini-2.5-flash-lite"


def test_sonnet_4_5_is_not_priced_as_sonnet_4_nor_the_reverse() -> None:
    sonnet_4 = find_price(DEFAULT_PRICES, "claude-sonnet-4-20250514", TODAY)
    sonnet_4_5 = find_price(DEFAULT_PRICES, "claude-sonnet-4-5", TODAY)

    assert sonnet_4 is not None and sonnet_4.model_pattern == "claude-sonnet-4"
    assert sonnet_4_5 is not None and sonnet_4_5.model_pattern == "claude-sonnet-4-5"


def test_longest_prefix_wins_whatever_the_row_order() -> None:
    short, long = price("gpt-4", id=1), price("gpt-4o", id=2)

    assert find_price([short, long], "gpt-4o-2024-08-06", TODAY) is long
    assert find_price([long, short], "gpt-4o-2024-08-06", TODAY) is long
    assert find_price([long, short], "gpt-4-turbo", TODAY) is short


def test_exact_match_beats_any_prefix_or_glob() -> None:
    exact = price("gpt-4o", match="exact", id=1)
    longer_prefix = price("gpt-4o-2024", id=2)
    glob = price("gpt-4o-2024-08-0?", match="glob", id=3)

    assert find_price([longer_prefix, glob, exact], "gpt-4o", TODAY) is exact
    # An exact pattern only matches the whole name.
    assert find_price([exact, longer_prefix, glob], "gpt-4o-2024-08-06", TODAY) is longer_prefix


def test_prefix_beats_glob_and_the_glob_with_more_literal_text_wins() -> None:
    anything_claude = price("claude-*", match="glob", id=1)
    any_sonnet = price("claude-*sonnet*", match="glob", id=2)
    prefix = price("claude-", id=3)

    assert find_price([anything_claude, any_sonnet], "claude-3-7-sonnet", TODAY) is any_sonnet
    assert find_price([any_sonnet, anything_claude], "claude-3-7-sonnet", TODAY) is any_sonnet
    assert find_price([any_sonnet, anything_claude], "claude-opus-4", TODAY) is anything_claude
    assert find_price([any_sonnet, prefix], "claude-3-7-sonnet", TODAY) is prefix


def test_character_class_in_a_glob_is_not_literal_text() -> None:
    # "gpt-[45]*" has 4 literal characters ("gpt-"); "gpt-4*" has 5 ("gpt-4").
    klass = price("gpt-[45]*", match="glob", id=1)
    literal = price("gpt-4*", match="glob", id=2)

    assert find_price([klass, literal], "gpt-4o", TODAY) is literal
    assert find_price([klass, literal], "gpt-5", TODAY) is klass


def test_provider_prefix_and_letter_case_are_ignored() -> None:
    found = find_price(DEFAULT_PRICES, " OpenAI/GPT-4o-Mini ", TODAY)
    routed = find_price(DEFAULT_PRICES, "openrouter/anthropic/claude-haiku-4-5", TODAY)
    pattern_with_provider = price("Anthropic/Claude-Opus-4", id=7)

    assert found is not None and found.model_pattern == "gpt-4o-mini"
    assert routed is not None and routed.model_pattern == "claude-haiku-4-5"
    assert find_price([pattern_with_provider], "claude-opus-4-20250514", TODAY) is not None


def test_price_change_mid_month_keeps_old_runs_at_the_old_price() -> None:
    old = price("my-model", effective_from=date(2025, 1, 1), input_per_m="4", id=1)
    new = price("my-model", effective_from=date(2025, 3, 15), input_per_m="3", id=2)
    prices = [new, old]

    assert find_price(prices, "my-model", date(2025, 3, 14)) is old
    assert find_price(prices, "my-model", date(2025, 3, 15)) is new
    assert find_price(prices, "my-model", date(2025, 3, 31)) is new


def test_o3_runs_before_the_june_2025_price_cut_keep_the_launch_price() -> None:
    before = find_price(DEFAULT_PRICES, "o3-2025-04-16", date(2025, 6, 9))
    after = find_price(DEFAULT_PRICES, "o3-2025-04-16", date(2025, 6, 10))

    assert before is not None and (before.input_per_m, before.output_per_m) == (D(10), D(40))
    assert after is not None and (after.input_per_m, after.output_per_m) == (D(2), D(8))


def test_a_row_not_yet_in_effect_prices_nothing() -> None:
    future = price("my-model", effective_from=date(2026, 1, 1))

    assert find_price([future], "my-model", TODAY) is None


def test_a_more_specific_row_wins_over_a_newer_general_one() -> None:
    specific = price("gpt-4o-mini", effective_from=date(2024, 7, 18), id=1)
    general = price("gpt-4o", effective_from=date(2025, 1, 1), id=2)

    assert find_price([general, specific], "gpt-4o-mini", TODAY) is specific


def test_identical_rows_resolve_to_the_first_given() -> None:
    first, second = price("my-model", id=1), price("my-model", id=2)

    assert find_price([first, second], "my-model", TODAY) is first


def test_unknown_model_has_no_price() -> None:
    assert find_price(DEFAULT_PRICES, "llama-3.1-405b-instruct", TODAY) is None
    assert find_price(DEFAULT_PRICES, "", TODAY) is None
    assert find_price([], "gpt-4o", TODAY) is None


def test_model_released_after_the_day_of_the_run_has_no_price() -> None:
    # claude-haiku-4-5 is priced from its release, 2025-10-15.
    assert find_price(DEFAULT_PRICES, "claude-haiku-4-5", date(2025, 10, 14)) is None


def test_lookup_day_must_be_a_date_not_a_timestamp() -> None:
    with pytest.raises(TypeError):
        find_price(DEFAULT_PRICES, "gpt-4o", datetime(2025, 1, 1, 12, 0))  # type: ignore[arg-type]


# --- the shipped defaults --------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "rates"),
    [
        ("gpt-4o", ("2.50", "10.00", "1.25", "2.50")),
        ("gpt-4o-mini", ("0.15", "0.60", "0.075", "0.15")),
        ("claude-sonnet-4-5", ("3", "15", "0.30", "3.75")),
        ("claude-sonnet-4", ("3", "15", "0.30", "3.75")),
        ("claude-opus-4-1", ("15", "75", "1.50", "18.75")),
        ("claude-haiku-4-5", ("1", "5", "0.10", "1.25")),
        ("claude-3-5-haiku", ("0.80", "4", "0.08", "1")),
        ("gemini-2.5-pro", ("1.25", "10", "0.31", "1.25")),
        ("gemini-2.5-flash", ("0.30", "2.50", "0.075", "0.30")),
    ],
)
def test_default_prices_match_the_published_list_prices(
    model: str, rates: tuple[str, str, str, str]
) -> None:
    found = find_price(DEFAULT_PRICES, model, TODAY)

    assert found is not None and found.currency == "USD"
    actual = (found.input_per_m, found.output_per_m, found.cache_read_per_m)
    assert (*actual, found.cache_write_per_m) == tuple(D(r) for r in rates)


@pytest.mark.parametrize(
    "model", ["gpt-4.1", "gpt-4.1-mini", "o3", "o4-mini", "claude-opus-4-1-20250805"]
)
def test_every_model_named_in_the_issue_has_a_default_price(model: str) -> None:
    assert find_price(DEFAULT_PRICES, model, TODAY) is not None


def test_each_default_row_is_the_one_that_prices_its_own_model() -> None:
    for row in DEFAULT_PRICES:
        found = find_price(DEFAULT_PRICES, row.model_pattern, row.effective_from)
        assert found is row, row.model_pattern


def test_default_rows_are_unique_and_in_decimal() -> None:
    keys = [(row.model_pattern, row.match, row.effective_from) for row in DEFAULT_PRICES]

    assert len(keys) == len(set(keys))
    for row in DEFAULT_PRICES:
        rates = (row.input_per_m, row.output_per_m, row.cache_read_per_m, row.cache_write_per_m)
        assert all(type(rate) is Decimal for rate in rates)
        assert row.cache_read_per_m <= row.input_per_m


# --- what a call costs -----------------------------------------------------------------


def test_cost_sums_all_four_token_kinds_at_their_own_rates() -> None:
    sonnet = price(
        "claude-sonnet-4-5",
        input_per_m="3",
        output_per_m="15",
        cache_read_per_m="0.30",
        cache_write_per_m="3.75",
    )
    usage = Usage(
        input_tokens=1_200, output_tokens=350, cache_read_tokens=40_000, cache_write_tokens=2_000
    )

    # input       1,200 x  3    / 1,000,000 = 0.0036
    # output        350 x 15    / 1,000,000 = 0.00525
    # cache read 40,000 x  0.30 / 1,000,000 = 0.012
    # cache write 2,000 x  3.75 / 1,000,000 = 0.0075
    # total 0.0036 + 0.00525 + 0.012 + 0.0075 = 0.02835
    assert cost_of(usage, sonnet) == D("0.0283500000")


def test_cache_reads_are_priced_at_the_cache_rate_not_the_input_rate() -> None:
    gpt_4o = find_price(DEFAULT_PRICES, "gpt-4o", TODAY)
    assert gpt_4o is not None

    cached = cost_of(Usage(input_tokens=0, output_tokens=0, cache_read_tokens=100_000), gpt_4o)
    uncached = cost_of(Usage(input_tokens=100_000, output_tokens=0), gpt_4o)

    # cache read 100,000 x 1.25 / 1,000,000 = 0.125
    # input      100,000 x 2.50 / 1,000,000 = 0.25
    assert cached == D("0.125")
    assert uncached == D("0.25")


def test_cache_writes_are_priced_at_the_cache_write_rate() -> None:
    haiku = find_price(DEFAULT_PRICES, "claude-haiku-4-5-20251001", TODAY)
    assert haiku is not None

    # cache write 10,000 x 1.25 / 1,000,000 = 0.0125 (input alone would be 0.01)
    assert cost_of(Usage(0, 0, cache_write_tokens=10_000), haiku) == D("0.0125")


def test_openai_style_usage_is_sent_with_cached_tokens_taken_out_of_input() -> None:
    gpt_4o_mini = find_price(DEFAULT_PRICES, "gpt-4o-mini", TODAY)
    assert gpt_4o_mini is not None
    prompt_tokens, cached_tokens, completion_tokens = 10_000, 8_000, 500

    usage = Usage(
        input_tokens=prompt_tokens - cached_tokens,
        output_tokens=completion_tokens,
        cache_read_tokens=cached_tokens,
    )

    # input      2,000 x 0.15  / 1,000,000 = 0.0003
    # output       500 x 0.60  / 1,000,000 = 0.0003
    # cache read 8,000 x 0.075 / 1,000,000 = 0.0006
    # total 0.0012
    assert cost_of(usage, gpt_4o_mini) == D("0.0012")


def test_cost_has_exactly_ten_decimal_places() -> None:
    gpt_4o_mini = find_price(DEFAULT_PRICES, "gpt-4o-mini", TODAY)
    assert gpt_4o_mini is not None

    # one cache-read token: 1 x 0.075 / 1,000,000 = 0.000000075
    cost = cost_of(Usage(0, 0, cache_read_tokens=1), gpt_4o_mini)

    assert cost == D("0.000000075")
    assert cost.as_tuple().exponent == -10


def test_cost_rounds_half_to_even_at_the_tenth_decimal() -> None:
    tiny = price("tiny", input_per_m="0.00005", output_per_m="0.00015")

    # 1 x 0.00005 / 1,000,000 = 0.00000000005 -> half, 0 is even -> 0.0000000000
    assert cost_of(Usage(1, 0), tiny) == D("0E-10")
    # 3 x 0.00005 / 1,000,000 = 0.00000000015 -> half, 2 is even -> 0.0000000002
    assert cost_of(Usage(3, 0), tiny) == D("0.0000000002")
    # 1 x 0.00015 / 1,000,000 = 0.00000000015 -> 0.0000000002, the same as above
    assert cost_of(Usage(0, 1), tiny) == D("0.0000000002")


def test_components_are_summed_before_rounding() -> None:
    tiny = price("tiny", input_per_m="0.00004", output_per_m="0.00004")

    # each part is 1 x 0.00004 / 1,000,000 = 0.00000000004, which alone rounds to 0;
    # together 0.00000000008 rounds to 0.0000000001
    assert cost_of(Usage(1, 1), tiny) == D("0.0000000001")


def test_huge_token_counts_stay_exact_whatever_the_callers_decimal_context() -> None:
    opus = find_price(DEFAULT_PRICES, "claude-opus-4-1", TODAY)
    assert opus is not None
    usage = Usage(input_tokens=123_456_789_012, output_tokens=1, cache_write_tokens=3)

    # input  123,456,789,012 x 15 / 1,000,000 = 1,851,851.83518
    # output               1 x 75 / 1,000,000 = 0.000075
    # cache write          3 x 18.75 / 1,000,000 = 0.00005625
    # total 1,851,851.83518 + 0.000075 + 0.00005625 = 1,851,851.83531125
    with localcontext() as ctx:
        ctx.prec = 6
        cost = cost_of(usage, opus)
    assert cost == D("1851851.83531125")


def test_zero_usage_costs_exactly_zero() -> None:
    gpt_4o = find_price(DEFAULT_PRICES, "gpt-4o", TODAY)
    assert gpt_4o is not None

    assert cost_of(Usage(0, 0), gpt_4o) == D(0)


def test_prices_and_token_counts_refuse_floats_and_negatives() -> None:
    with pytest.raises(TypeError):
        Price(None, "m", "prefix", date(2024, 1, 1), 2.5, D(1), D(1), D(1))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        price("m", input_per_m="-1")
    with pytest.raises(ValueError):
        price("m", input_per_m="NaN")
    with pytest.raises(ValueError):
        price("m", match="regex")
    with pytest.raises(TypeError):
        Usage(1.0, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Usage(-1, 0)


# --- money for display -----------------------------------------------------------------


def test_money_rounds_half_up_for_display() -> None:
    assert money(D("2.345")) == D("2.35")
    assert money(D("-2.345")) == D("-2.35")
    assert money(D("2.344")) == D("2.34")
    assert money(D("0.0283500000"), 4) == D("0.0284")


def test_money_refuses_floats() -> None:
    with pytest.raises(TypeError):
        money(2.345)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("1234.56", "USD", "1,234.56 USD"),
        ("1234567.891", "USD", "1,234,567.89 USD"),
        ("-12.5", "EUR", "-12.50 EUR"),
        ("0.01", "USD", "0.01 USD"),
        ("0.005", "USD", "0.005 USD"),
        ("0.0042", "USD", "0.0042 USD"),
        ("0.0042137", "USD", "0.004214 USD"),
        ("-0.0042", "EUR", "-0.0042 EUR"),
        ("0.000000075", "USD", "0.000000075 USD"),
        ("0.0099999", "USD", "0.01 USD"),
        ("0", "USD", "0.00 USD"),
        ("-0", "USD", "0.00 USD"),
        ("0E-10", "GBP", "0.00 GBP"),
    ],
)
def test_format_money_puts_the_currency_code_after_the_amount(
    amount: str, currency: str, shown: str
) -> None:
    assert format_money(D(amount), currency) == shown


def test_format_money_never_uses_a_currency_symbol() -> None:
    assert "$" not in format_money(D("1234.56"), "USD")
