"""Chart figures (pure): money becomes a float only here, names are escaped, a group
keeps its colour across charts, and many groups fold into "Other"."""

import json
from datetime import UTC, datetime
from decimal import Decimal

from billing import charts

X = [datetime(2026, 11, 20, h, tzinfo=UTC) for h in range(3)]


def test_money_is_plotted_as_numbers_and_the_figure_is_json():
    figure = charts.stacked_bars(
        x=X, series={"gpt-4o": [Decimal("0.1"), Decimal("0.2"), Decimal(0)]}, unit="usd"
    )
    assert figure["data"][0]["y"] == [0.1, 0.2, 0.0]
    assert figure["data"][0]["x"][0] == "2026-11-20 00:00"
    json.dumps(figure)  # no Decimal left for the template's json_script


def test_names_from_events_are_escaped_in_labels():
    figure = charts.stacked_bars(x=X, series={"<b>x</b>": [1, 2, 3]}, unit="runs")
    assert figure["data"][0]["name"] == "&lt;b&gt;x&lt;/b&gt;"


def test_the_same_order_gives_a_group_the_same_colour_in_two_charts():
    order = ["b", "a"]
    cost = charts.stacked_bars(x=X, series={"a": [9, 9, 9], "b": [1, 1, 1]}, unit="usd",
                               order=order)  # fmt: skip
    tokens = charts.stacked_bars(x=X, series={"a": [1, 1, 1], "b": [9, 9, 9]}, unit="tokens",
                                 order=order)  # fmt: skip
    colours = [{t["name"]: t["marker"]["color"] for t in f["data"]} for f in (cost, tokens)]
    assert colours[0] == colours[1] == {"b": "var(--series-1)", "a": "var(--series-2)"}


def test_groups_beyond_seven_are_summed_into_other():
    series = {f"m{n}": [n, n, n] for n in range(10)}
    names = [t["name"] for t in charts.stacked_bars(x=X, series=series, unit="tokens")["data"]]
    assert names == ["m9", "m8", "m7", "m6", "m5", "m4", "m3", "Other"]
    other = charts.stacked_bars(x=X, series=series, unit="tokens")["data"][-1]
    assert other["y"] == [0 + 1 + 2] * 3


def test_a_bucket_where_nothing_finished_has_no_failure_rate():
    figure = charts.runs_and_failures(x=X, runs={"a": [2, 1, 0]}, failures=[1, 0, 0],
                                      finished=[2, 0, 0])  # fmt: skip
    assert figure["data"][-1]["y"] == [50.0, None, None]


def test_small_costs_get_enough_decimals_on_the_axis():
    figure = charts.stacked_bars(x=X, series={"a": [Decimal("0.004"), 0, 0]}, unit="usd")
    assert figure["layout"]["yaxis"]["tickformat"] == "$,.4~f"


def test_revenue_refunds_point_down_and_net_is_a_line():
    figure = charts.revenue_bars(
        x=[d.date() for d in X],
        gross=[Decimal("10.00")] * 3,
        refunds_and_credits=[Decimal("2.50")] * 3,
        net=[Decimal("7.50")] * 3,
        currency="EUR",
    )
    gross, refunds, net = figure["data"]
    assert gross["y"] == [10.0] * 3
    assert refunds["y"] == [-2.5] * 3
    assert net["type"] == "scatter" and net["y"] == [7.5] * 3
