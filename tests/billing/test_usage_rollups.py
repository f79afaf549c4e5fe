"""The usage report reads the daily rollups for ranges of whole days (30 and 90 days)
and the hourly ones otherwise, with the same numbers either way.

T0 is 2026-11-20 09:00 UTC; the report is read two days later.
"""

import random
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.selectors import UsageParams, usage_report
from tests.conftest import T0
from tests.runs.test_rollups_daily import apply_in_random_batches, random_runs

NOW = T0 + timedelta(days=2, hours=3)
ROLLUPS = ("runs_usagehourly", "runs_durationhourly", "runs_usagedaily", "runs_durationdaily")


@pytest.fixture
def busy_days(project):
    rng = random.Random(21)
    apply_in_random_batches(project, random_runs(rng, 30), rng)


def report(project, range_: str, group: str):
    params = UsageParams.from_params({"range": range_, "group": group})
    return usage_report(project=project, params=params, now=NOW)


@pytest.mark.parametrize("range_", ["30d", "90d"])
@pytest.mark.parametrize("group", ["model", "agent", "environment"])
def test_a_report_of_whole_days_is_the_same_from_the_daily_and_the_hourly_rollups(
    project, busy_days, monkeypatch, range_, group
):
    daily = report(project, range_, group)
    monkeypatch.setattr("billing.selectors.usage._reads_daily", lambda start, step: False)
    hourly = report(project, range_, group)

    assert daily == hourly
    assert daily.total.llm_calls > 0
    assert daily.run_total.p95_ms is not None
    assert sum(1 for runs in zip(*daily.runs.values(), strict=True) if any(runs)) >= 3


@pytest.mark.parametrize(
    ("range_", "tables"),
    [
        ("24h", {"runs_usagehourly", "runs_durationhourly"}),
        ("7d", {"runs_usagehourly", "runs_durationhourly"}),  # 6-hour buckets
        ("30d", {"runs_usagedaily", "runs_durationdaily"}),
        ("90d", {"runs_usagedaily", "runs_durationdaily"}),
    ],
)
def test_each_range_reads_the_coarsest_rollup_that_fits_its_buckets(
    project, busy_days, range_, tables
):
    with CaptureQueriesContext(connection) as queries:
        report(project, range_, "model")

    read = {
        table
        for query in queries.captured_queries
        for table in ROLLUPS
        if f'"{table}"' in query["sql"]
    }
    assert read == tables
