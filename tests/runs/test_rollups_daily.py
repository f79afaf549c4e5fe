"""The daily usage rollups are the hourly ones summed per UTC day, whatever the order
and batching of the events, when a late run_start moves a run to another hour, day or
agent, and after re-pricing; the migration's backfill builds the same tables.

T0 is 2026-11-20 09:00 UTC.
"""

import importlib
import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection

from billing.models import ModelPrice
from billing.services import RepriceScope, calls_reprice
from runs.ingest.rollups import daily_key, regroup
from runs.models import DurationDaily, DurationHourly, UsageDaily, UsageHourly
from tests.conftest import apply_now, ev

HOUR = 3600
DAY = 86_400
_USAGE_SUMS = (
    "runs", "failures", "finished", "duration_ms_sum", "llm_calls", "input_tokens",
    "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost", "unpriced_calls",
)  # fmt: skip


def usage_by_day(project) -> tuple[dict, dict]:
    """(hourly rows summed per UTC day, daily rows), both without all-zero keys."""
    summed: dict[tuple, list] = defaultdict(lambda: [0] * len(_USAGE_SUMS))
    for row in UsageHourly.objects.filter(project_id=project.id):
        key = (row.hour.astimezone(UTC).date(), row.agent_name, row.model, row.environment)
        summed[key] = [a + getattr(row, n) for a, n in zip(summed[key], _USAGE_SUMS, strict=True)]
    daily = {
        (row.day, row.agent_name, row.model, row.environment): [
            getattr(row, n) for n in _USAGE_SUMS
        ]
        for row in UsageDaily.objects.filter(project_id=project.id)
    }
    return _nonzero(summed), _nonzero(daily)


def durations_by_day(project) -> tuple[dict, dict]:
    summed: dict[tuple, int] = defaultdict(int)
    for row in DurationHourly.objects.filter(project_id=project.id):
        summed[(row.hour.astimezone(UTC).date(), row.agent_name, row.environment, row.bucket)] += (
            row.count
        )
    daily = {
        (row.day, row.agent_name, row.environment, row.bucket): row.count
        for row in DurationDaily.objects.filter(project_id=project.id)
    }
    return (
        {k: v for k, v in summed.items() if v},
        {k: v for k, v in daily.items() if v},
    )


def _nonzero(rows: dict) -> dict:
    return {key: list(values) for key, values in rows.items() if any(values)}


def random_runs(rng: random.Random, count: int) -> list[dict]:
    """Runs across three days, many near midnight UTC, of three agents; some with LLM
    calls, some failing, some still running, some whose run_start comes last."""
    events = []
    for n in range(count):
        run_id = f"r{n}"
        agent = rng.choice(["invoice-bot", "support-triage", "data-sync"])
        env = rng.choice(["cloud", "local", "docker"])
        # 15:00 the day before T0 .. 09:00 two days later, often around midnight
        start = rng.choice([-18 * HOUR, -9 * HOUR - 120, 15 * HOUR - 30, 39 * HOUR - 5]) + (
            rng.randint(0, 3 * HOUR)
        )
        run = [ev("run_start", run_id, at=start, seq=0, agent=agent, environment=env)]
        for i in range(rng.randint(0, 3)):
            run.append(ev("usage", run_id, at=start + 60 * (i + 1), seq=i + 1, agent=agent,
                          model=rng.choice(["gpt-4o", "gpt-4o-mini", "in-house-7b"]),
                          input_tokens=rng.randint(1, 5000), output_tokens=rng.randint(0, 900),
                          call_id=f"c{i}"))  # fmt: skip
        end = start + rng.randint(1, 2 * HOUR)
        ending = rng.random()
        if ending < 0.45:
            run.append(ev("run_end", run_id, at=end, seq=9, agent=agent, outputs={}))
        elif ending < 0.8:
            error = {"type": "KeyError", "message": "x"}
            run.append(ev("error", run_id, at=end, seq=9, agent=agent, error=error))
        if rng.random() < 0.3:  # the run_start arrives after everything else
            run = run[1:] + run[:1]
        events += run
    return events


def apply_in_random_batches(project, events: list[dict], rng: random.Random) -> None:
    delivered = events + rng.sample(events, len(events) // 5)  # at-least-once: some twice
    rng.shuffle(delivered)
    while delivered:
        size = rng.randint(1, 8)
        apply_now(project, delivered[:size])
        delivered = delivered[size:]


def test_an_hour_rolls_up_into_its_utc_day():
    paris = timezone(timedelta(hours=1))
    hour = datetime(2026, 11, 21, 0, 0, tzinfo=paris)  # 23:00 UTC the day before
    assert daily_key((hour, "bot", "gpt-4o", "cloud")) == (date(2026, 11, 20), "bot",
                                                           "gpt-4o", "cloud")  # fmt: skip


def test_a_run_moved_within_one_day_moves_nothing_in_the_daily_rollup():
    ten, eleven = datetime(2026, 11, 20, 10, tzinfo=UTC), datetime(2026, 11, 20, 11, tzinfo=UTC)
    moved = {
        (ten, "bot", "", "cloud"): {"runs": -1, "finished": -1},
        (eleven, "bot", "", "cloud"): {"runs": 1, "finished": 1},
    }
    assert regroup(moved, daily_key) == {}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_daily_rollups_are_the_hourly_ones_summed_after_random_batches(project, seed):
    rng = random.Random(seed)
    apply_in_random_batches(project, random_runs(rng, 25), rng)

    summed, daily = usage_by_day(project)
    assert daily == summed
    assert len({key[0] for key in daily}) >= 3  # the runs really spread over days
    summed_durations, daily_durations = durations_by_day(project)
    assert daily_durations == summed_durations
    assert daily_durations


def test_a_late_run_start_moves_the_run_to_its_day_and_agent_in_both_rollups(project):
    # Usage at 00:30 on Nov 21 with no agent; the run_start says it began at 23:50 the
    # day before, for invoice-bot.
    apply_now(project, [
        ev("usage", "r", at=15.5 * HOUR, seq=1, agent=None, model="gpt-4o",
           input_tokens=1000, output_tokens=10, call_id="c1"),
        ev("run_end", "r", at=15.6 * HOUR, seq=2, agent=None, outputs={}),
    ])  # fmt: skip
    apply_now(project, [ev("run_start", "r", at=15 * HOUR - 600, seq=0, agent="invoice-bot")])

    runs = UsageDaily.objects.filter(project_id=project.id, model="").exclude(runs=0)
    assert [(r.day, r.agent_name, r.runs, r.finished) for r in runs] == [
        (date(2026, 11, 20), "invoice-bot", 1, 1)
    ]
    calls = UsageDaily.objects.filter(project_id=project.id, model="gpt-4o").exclude(llm_calls=0)
    assert [(r.day, r.agent_name, r.llm_calls) for r in calls] == [
        (date(2026, 11, 21), "invoice-bot", 1)
    ]
    summed, daily = usage_by_day(project)
    assert daily == summed
    assert durations_by_day(project)[1] == durations_by_day(project)[0]


def test_repricing_moves_the_daily_rollup_by_the_same_amounts(org, project):
    rng = random.Random(7)
    apply_in_random_batches(project, random_runs(rng, 20), rng)
    before = sum(r.cost for r in UsageDaily.objects.filter(project_id=project.id))

    ModelPrice.objects.create(
        organization=org, model_pattern="gpt-4o", match="prefix",
        effective_from=date(2026, 11, 20), input_per_m=Decimal("1.11"),
        output_per_m=Decimal("3.33"),
    )  # fmt: skip
    ModelPrice.objects.create(
        organization=org, model_pattern="in-house-7b", match="exact",
        effective_from=date(2026, 1, 1), input_per_m=Decimal("0.07"), output_per_m=Decimal("0"),
    )  # fmt: skip
    scope = RepriceScope(patterns=(("gpt-4o", "prefix"), ("in-house-7b", "exact")),
                         since=date(2026, 1, 1))  # fmt: skip
    result = calls_reprice(organization_id=org.id, scope=scope)

    assert result.calls_changed > 0
    summed, daily = usage_by_day(project)
    assert daily == summed
    after = sum(r.cost for r in UsageDaily.objects.filter(project_id=project.id))
    assert after - before == result.cost_delta
    assert sum(r.unpriced_calls for r in UsageDaily.objects.filter(project_id=project.id)) == 0


def test_the_migration_backfill_builds_the_daily_rollups_the_worker_keeps(project):
    rng = random.Random(11)
    apply_in_random_batches(project, random_runs(rng, 15), rng)
    kept = usage_by_day(project)[1], durations_by_day(project)[1]
    UsageDaily.objects.all().delete()
    DurationDaily.objects.all().delete()

    backfill = importlib.import_module("runs.migrations.0006_daily_rollups").BACKFILL
    with connection.cursor() as cursor:
        cursor.execute(backfill)

    assert (usage_by_day(project)[1], durations_by_day(project)[1]) == kept
