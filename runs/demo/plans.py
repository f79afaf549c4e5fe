"""Planning the runs of the history: which agent runs when, where, and how it ends."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from runs.demo.agents import _AGENTS, _AGENTS_BY_NAME, _Agent, _runtime
from runs.demo.crashes import _CRASHES, _Crash
from runs.demo.helpers import _hex

# ---------------------------------------------------------------------------
# Planning the runs: who runs when, where, and how it ends
# ---------------------------------------------------------------------------

# Runs of the history end at least this long before ``now`` (the longest timeout is
# 10 minutes), so that none of them is still running.
_HISTORY_MARGIN = timedelta(minutes=15)

_ENDING_SHARES = (
    ("crashed", 0.12),
    ("validation_failed", 0.04),
    ("cancelled", 0.03),
    ("timed_out", 0.03),
)
# Share of crashes that happen in the cloud right after the same inputs succeeded locally.
_TWIN_SHARE = 0.55
# Relative activity per hour of day (UTC), and on Saturdays and Sundays.
_HOURLY_ACTIVITY = (
    0.12, 0.10, 0.10, 0.10, 0.12, 0.15, 0.30, 0.55, 0.85, 1.00, 1.00, 0.95,
    0.80, 0.90, 1.00, 1.00, 0.95, 0.75, 0.55, 0.40, 0.30, 0.25, 0.20, 0.15,
)  # fmt: skip
_WEEKEND_ACTIVITY = 0.3


@dataclass
class _Plan:
    """Everything decided about a run before it is played."""

    run_id: str
    agent: _Agent
    version: str
    start: datetime
    environment: str
    ending: str  # succeeded | crashed | validation_failed | cancelled | timed_out
    inputs: dict[str, Any]
    runtime: dict[str, Any]
    script_seed: int  # the run's content; a local twin shares it
    run_seed: int  # the run's timing and ids
    crash: _Crash | None = None


def _ending_counts(runs: int) -> tuple[dict[str, int], int]:
    """How many runs end which way, and how many of the successes are local twins."""
    counts = {ending: round(share * runs) for ending, share in _ENDING_SHARES}
    if runs >= 20:
        counts = {ending: max(1, count) for ending, count in counts.items()}
    twins = round(_TWIN_SHARE * counts["crashed"])
    counts["succeeded"] = runs - sum(counts.values()) - twins
    return counts, twins


def _activity(ts: datetime) -> float:
    activity = _HOURLY_ACTIVITY[ts.hour]
    return activity * _WEEKEND_ACTIVITY if ts.weekday() >= 5 else activity


def _sample_start(rng: random.Random, low: datetime, high: datetime) -> datetime:
    """A start time in [low, high), busier in working hours (rejection sampling)."""
    span = (high - low).total_seconds()
    while True:
        ts = low + timedelta(seconds=rng.uniform(0, span))
        if rng.random() < _activity(ts):
            return ts


def _pick_agent(rng: random.Random, ending: str) -> tuple[_Agent, _Crash | None]:
    """The agent of a run, and for a crash, how it crashes."""
    if ending != "crashed":
        return rng.choices(_AGENTS, [agent.weight for agent in _AGENTS])[0], None
    name, crash, _ = rng.choices(_CRASHES, [weight for _, _, weight in _CRASHES])[0]
    return _AGENTS_BY_NAME[name], crash


def _pick_environment(rng: random.Random, ending: str) -> str:
    if ending == "crashed":
        return rng.choices(["cloud", "docker"], [85, 15])[0]
    return rng.choices(["cloud", "local", "docker"], [78, 13, 9])[0]


def _new_run_id(rng: random.Random, taken: set[str]) -> str:
    while True:
        run_id = "run_" + _hex(rng, 12)
        if run_id not in taken:
            taken.add(run_id)
            return run_id


def _plan_runs(rng: random.Random, now: datetime, runs: int, days: int) -> list[_Plan]:
    """Plans for ``runs`` finished runs spread over the ``days`` before ``now``."""
    low, high = now - timedelta(days=days), now - _HISTORY_MARGIN
    counts, twins_left = _ending_counts(runs)
    endings = [ending for ending, count in counts.items() for _ in range(count)]
    rng.shuffle(endings)
    taken: set[str] = set()
    plans: list[_Plan] = []
    for ending in endings:
        agent, crash = _pick_agent(rng, ending)
        start = _sample_start(rng, low, high)
        fraction = (start - low) / (high - low)
        has_twin = ending == "crashed" and twins_left > 0
        environment = "cloud" if has_twin else _pick_environment(rng, ending)
        script_seed = rng.getrandbits(64)
        plan = _Plan(
            run_id=_new_run_id(rng, taken),
            agent=agent,
            version=agent.version_at(fraction),
            start=start,
            environment=environment,
            ending=ending,
            inputs=agent.make_inputs(random.Random(script_seed), start),
            runtime=_runtime(rng, environment, agent, fraction),
            script_seed=script_seed,
            run_seed=rng.getrandbits(64),
            crash=crash,
        )
        plans.append(plan)
        if has_twin:
            twins_left -= 1
            plans.append(_local_twin(rng, plan, taken))
    return plans


def _local_twin(rng: random.Random, plan: _Plan, taken: set[str]) -> _Plan:
    """The same inputs, run on a developer's machine shortly before, that succeeded."""
    runtime = _runtime(rng, "local", plan.agent, 0.0)
    return _Plan(
        run_id=_new_run_id(rng, taken),
        agent=plan.agent,
        version=plan.version,
        start=plan.start - timedelta(minutes=rng.uniform(8, 180)),
        environment="local",
        ending="succeeded",
        inputs=plan.inputs,
        runtime=runtime,
        script_seed=plan.script_seed,
        run_seed=rng.getrandbits(64),
    )
