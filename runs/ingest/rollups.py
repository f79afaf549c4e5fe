"""Rollup contributions: what one run or one LLM call adds to the hourly tables.

The worker computes a run's contribution before and after folding its new events
and writes only the difference, so a run that changes hour (a late `run_start`),
agent or status moves its numbers instead of counting twice. The daily tables get
the same difference regrouped by `daily_key`, so they stay the sum of the hourly ones.
"""

import math
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

from runs.ingest.runstate import RunState

FAILED_STATUSES = frozenset({"failed", "timed_out", "validation_failed"})
_BUCKET_BASE = 1.25  # each duration bucket is 25% wider than the one before

UsageKey = tuple[datetime, str, str, str]  # hour, agent, model, environment
DurationKey = tuple[datetime, str, str, int]  # hour, agent, environment, bucket
Contribution = dict[tuple, dict[str, int | Decimal]]


def hour_of(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def daily_key(key: tuple) -> tuple:
    """The daily rollup key of an hourly one: the hour (first) becomes its UTC day."""
    hour, *rest = key
    return (day_of(hour), *rest)


def day_of(ts: datetime) -> date:
    return ts.astimezone(UTC).date()


def month_key(key: tuple) -> tuple:
    """The monthly rollup key of a daily one: the day (first) becomes its month's 1st."""
    day, *rest = key
    return (day.replace(day=1), *rest)


def week_key(key: tuple) -> tuple:
    """The weekly rollup key of a daily one: the day (first) becomes the first day of
    its week of the month (the 1st, 8th, 15th, 22nd or 29th)."""
    day, *rest = key
    return (week_of(day), *rest)


def week_of(day: date) -> date:
    return day.replace(day=(day.day - 1) // 7 * 7 + 1)


def duration_bucket(duration_ms: int) -> int:
    return math.ceil(math.log(duration_ms + 1, _BUCKET_BASE))


def bucket_upper_ms(bucket: int) -> float:
    """The longest duration (ms) that falls in `bucket`."""
    return _BUCKET_BASE**bucket - 1


def run_contribution(state: RunState | None) -> tuple[Contribution, Contribution]:
    """(usage rows, duration rows) that one run adds; empty for a run not yet stored."""
    if state is None:
        return {}, {}
    hour = hour_of(state.started_at)
    usage_key = (hour, state.agent_name, "", state.environment)
    counts: dict[str, int | Decimal] = {
        "runs": 1,
        "failures": int(state.terminal and state.status in FAILED_STATUSES),
        "finished": int(state.terminal),
        "duration_ms_sum": state.duration_ms or 0 if state.terminal else 0,
    }
    durations: Contribution = {}
    if state.terminal and state.duration_ms is not None:
        bucket = duration_bucket(state.duration_ms)
        durations[(hour, state.agent_name, state.environment, bucket)] = {"count": 1}
    return {usage_key: counts}, durations


def call_contribution(
    *,
    usage_at: datetime,
    agent_name: str,
    model: str,
    environment: str,
    tokens: dict[str, int],
    cost: Decimal | None,
) -> Contribution:
    """What one LLM call's usage adds to the usage rollup."""
    key = (hour_of(usage_at), agent_name, model, environment)
    return {
        key: {
            "llm_calls": 1,
            **tokens,
            "cost": cost if cost is not None else Decimal(0),
            "unpriced_calls": int(cost is None),
        }
    }


def add_into(total: Contribution, part: Contribution, sign: int = 1) -> None:
    """total += sign * part, key by key and field by field."""
    for key, fields in part.items():
        row = total.setdefault(key, defaultdict(int))
        for name, value in fields.items():
            row[name] += sign * value


def nonzero(total: Contribution) -> Contribution:
    """Drop keys whose every field nets to zero: nothing to write for them."""
    return {key: dict(fields) for key, fields in total.items() if any(fields.values())}


def regroup(total: Contribution, key_of: Callable[[tuple], tuple]) -> Contribution:
    """`total` summed under coarser keys (`key_of` maps a key to its coarser one), less
    the keys that net to zero: a run moved to another hour of the same day moves
    nothing in the daily rollup."""
    coarse: Contribution = {}
    for key, fields in total.items():
        add_into(coarse, {key_of(key): fields})
    return nonzero(coarse)
