"""The usage report: tokens, cost, runs, failures and latency from the hourly rollups.

T0 is 2026-11-20 09:00 UTC; the report is read at 12:00 the same day. Shipped prices,
USD per 1M tokens (input / output / cache read / cache write):
gpt-4o 2.50 / 10.00, gpt-4o-mini 0.15 / 0.60, claude-sonnet-4-5 3.00 / 15.00 / 0.30 / 3.75.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.selectors import UsageParams, histogram_percentile, usage_report
from runs.ingest.rollups import bucket_upper_ms, duration_bucket
from tests.conftest import T0, apply_now, ev

D = Decimal
NOW = T0 + timedelta(hours=3)
DAY = 86_400


@pytest.fixture
def fleet(project):
    """Five runs; the costs of their calls, worked out by hand:

    r1 invoice-bot, cloud, 09:00, succeeded in 2 s
       gpt-4o 1000 in, 200 out: 0.0025 + 0.002 = 0.0045
    r2 invoice-bot, local, 10:00, failed after 5 s
       gpt-4o-mini 10000 in, 1000 out: 0.0015 + 0.0006 = 0.0021
    r3 support-triage, cloud, 10:01, succeeded in 30 s
       claude-sonnet-4-5 2000 in, 500 out, 1000 cache read, 400 cache write:
       0.006 + 0.0075 + 0.0003 + 0.0015 = 0.0153
       in-house-7b 100 in, 100 out: no price, unpriced (not 0)
    r4 support-triage, cloud, ten days earlier, succeeded in 1 s
       gpt-4o 1000 in: 0.0025
    r5 data-sync, docker, 11:00, still running, no LLM call
    """
    apply_now(project, [
        ev("run_start", "r1", at=0, seq=0, environment="cloud"),
        ev("usage", "r1", at=1, seq=1, model="gpt-4o", input_tokens=1000, output_tokens=200,
           call_id="c1"),
        ev("run_end", "r1", at=2, seq=2, outputs={}),
        ev("run_start", "r2", at=3600, seq=0, environment="local"),
        ev("usage", "r2", at=3601, seq=1, model="gpt-4o-mini", input_tokens=10000,
           output_tokens=1000, call_id="c1"),
        ev("error", "r2", at=3605, seq=2, error={"type": "KeyError", "message": "x"}),
        ev("run_start", "r3", at=3660, seq=0, agent="support-triage", environment="cloud"),
        ev("usage", "r3", at=3661, seq=1, agent="support-triage", model="claude-sonnet-4-5",
           input_tokens=2000, output_tokens=500, cache_read_tokens=1000,
           cache_write_tokens=400, call_id="c1"),
        ev("usage", "r3", at=3662, seq=2, agent="support-triage", model="in-house-7b",
           input_tokens=100, output_tokens=100, call_id="c2"),
        ev("run_end", "r3", at=3690, seq=3, agent="support-triage", outputs={}),
        ev("run_start", "r4", at=-10 * DAY, seq=0, agent="support-triage", environment="cloud"),
        ev("usage", "r4", at=-10 * DAY + 0.5, seq=1, agent="support-triage", model="gpt-4o",
           input_tokens=1000, output_tokens=0, call_id="c1"),
        ev("run_end", "r4", at=-10 * DAY + 1, seq=2, agent="support-triage", outputs={}),
        ev("run_start", "r5", at=7200, seq=0, agent="data-sync", environment="docker"),
    ])  # fmt: skip


def report(project, range_: str = "24h", group: str = "model"):
    params = UsageParams.from_params({"range": range_, "group": group})
    return usage_report(project=project, params=params, now=NOW)


def test_the_totals_of_the_last_24_hours_add_up(project, fleet):
    usage = report(project)

    # 0.0045 + 0.0021 + 0.0153 = 0.0219 (r4 is ten days old)
    assert usage.total.cost == D("0.0219")
    assert usage.total.llm_calls == 4
    assert usage.total.unpriced_calls == 1
    # 1200 + 11000 + (2000 + 500 + 1000 + 400) + 200 = 16300
    assert usage.total.tokens == 16300
    assert (usage.run_total.runs, usage.run_total.finished, usage.run_total.failures) == (4, 3, 1)
    assert usage.run_total.failure_rate == pytest.approx(1 / 3)


def test_cost_is_decimal_never_float(project, fleet):
    usage = report(project)
    assert isinstance(usage.total.cost, Decimal)
    assert all(isinstance(v, Decimal) for series in usage.cost.values() for v in series)


def test_by_model_the_unpriced_model_is_listed_apart_from_free(project, fleet):
    token_rows = report(project).token_rows
    rows = {row.name: (row.cost, row.unpriced_calls, row.tokens) for row in token_rows}

    assert rows == {
        "claude-sonnet-4-5": (D("0.0153"), 0, 3900),
        "gpt-4o": (D("0.0045"), 0, 1200),
        "gpt-4o-mini": (D("0.0021"), 0, 11000),
        "in-house-7b": (D(0), 1, 200),
    }
    assert [row.name for row in token_rows] == [
        "claude-sonnet-4-5", "gpt-4o", "gpt-4o-mini", "in-house-7b",
    ]  # by cost, then tokens  # fmt: skip


def test_by_agent_costs_and_runs_follow_the_agent(project, fleet):
    usage = report(project, group="agent")

    costs = {row.name: (row.cost, row.unpriced_calls) for row in usage.token_rows}
    # invoice-bot: 0.0045 + 0.0021 = 0.0066
    assert costs == {"invoice-bot": (D("0.0066"), 0), "support-triage": (D("0.0153"), 1)}
    runs = {row.name: (row.runs, row.finished, row.failures) for row in usage.run_rows}
    assert runs == {"invoice-bot": (2, 2, 1), "support-triage": (1, 1, 0), "data-sync": (1, 0, 0)}


def test_runs_are_grouped_by_agent_when_usage_is_grouped_by_model(project, fleet):
    usage = report(project, group="model")
    assert {row.name for row in usage.run_rows} == {"invoice-bot", "support-triage", "data-sync"}
    assert set(usage.runs) == {"invoice-bot", "support-triage", "data-sync"}


def test_by_environment(project, fleet):
    usage = report(project, group="environment")
    assert {r.name: r.runs for r in usage.run_rows} == {"cloud": 2, "local": 1, "docker": 1}
    assert {r.name: r.cost for r in usage.token_rows} == {
        "cloud": D("0.0198"),  # 0.0045 + 0.0153
        "local": D("0.0021"),
    }


def test_each_call_lands_in_the_hour_it_was_made(project, fleet):
    usage = report(project)

    # The 24 hourly buckets run from Nov 19 13:00 to Nov 20 12:00.
    assert usage.buckets[0] == T0 - timedelta(hours=20)
    assert len(usage.buckets) == 24
    nine, ten = usage.buckets.index(T0), usage.buckets.index(T0 + timedelta(hours=1))
    assert usage.cost["gpt-4o"][nine] == D("0.0045")
    assert usage.cost["gpt-4o-mini"][ten] == D("0.0021")
    assert sum(usage.cost["gpt-4o"]) == D("0.0045")
    assert usage.runs["invoice-bot"][nine] == 1 and usage.runs["invoice-bot"][ten] == 1
    assert usage.failures[ten] == 1


def test_a_longer_range_takes_older_runs_in_daily_buckets(project, fleet):
    usage = report(project, range_="30d")

    assert usage.bucket == "day"
    assert len(usage.buckets) == 30
    assert usage.buckets[-1] == T0.replace(hour=0)  # today, Nov 20
    assert usage.total.cost == D("0.0244")  # 0.0219 + r4's 0.0025
    assert usage.run_total.runs == 5


def test_the_week_is_in_six_hour_buckets(project, fleet):
    usage = report(project, range_="7d")
    assert usage.bucket == "6 hours"
    assert len(usage.buckets) == 28
    assert usage.buckets[-1] == T0.replace(hour=12)  # 12:00-18:00 holds "now"


def test_latency_percentiles_fall_in_the_bucket_of_the_true_value(project, fleet):
    usage = report(project, group="agent")
    support = next(r for r in usage.run_rows if r.name == "support-triage")

    # One finished run of 30 s: its p50 and p95 lie in the duration bucket holding 30000 ms.
    assert duration_bucket(30_000) == duration_bucket(round(support.p50_ms))
    assert support.p95_ms <= bucket_upper_ms(duration_bucket(30_000))
    # Overall (2 s, 5 s, 30 s): the median is the 5 s run's bucket.
    assert duration_bucket(5000) == duration_bucket(round(usage.run_total.p50_ms))


def test_unknown_parameters_fall_back_to_the_defaults():
    assert UsageParams.from_params({"range": "1y", "group": "customer"}) == UsageParams()


ROLLUP_TABLES = ("runs_usagehourly", "runs_durationhourly", "runs_usagedaily", "runs_durationdaily")


def test_the_report_reads_three_rollup_queries_and_never_runs_or_events(project, fleet):
    with CaptureQueriesContext(connection) as queries:
        report(project, range_="90d", group="agent")

    assert len(queries) == 3
    for query in queries.captured_queries:
        assert any(rollup in query["sql"] for rollup in ROLLUP_TABLES)
        for table in ('"runs_run"', '"runs_event"', '"runs_llmcall"'):
            assert table not in query["sql"]


def test_another_projects_usage_is_not_counted(project, other_project, fleet):
    apply_now(other_project, [
        ev("run_start", "x", at=0, seq=0),
        ev("usage", "x", at=1, seq=1, model="gpt-4o", input_tokens=10**6, output_tokens=0),
    ])  # fmt: skip
    assert report(project).total.cost == D("0.0219")


# ── Percentiles from a histogram (pure) ───────────────────────────────────────────


def test_an_empty_histogram_has_no_percentile():
    assert histogram_percentile({}, 0.5) is None


def test_a_percentile_is_placed_linearly_inside_its_bucket():
    low, high = bucket_upper_ms(9), bucket_upper_ms(10)
    # 100 durations in bucket 10: the median is halfway, the p95 at 95% of the way
    assert histogram_percentile({10: 100}, 0.5) == pytest.approx(low + (high - low) * 0.5)
    assert histogram_percentile({10: 100}, 0.95) == pytest.approx(low + (high - low) * 0.95)


def test_the_p95_of_a_skewed_histogram_is_in_its_tail():
    # 90 fast runs (bucket 20) and 10 slow ones (bucket 40): rank 95 is the 5th slow one
    p95 = histogram_percentile({20: 90, 40: 10}, 0.95)
    assert bucket_upper_ms(39) < p95 <= bucket_upper_ms(40)
    assert histogram_percentile({20: 90, 40: 10}, 0.5) <= bucket_upper_ms(20)
