"""Demo data for Charm Studio: realistic, deterministic protocol-v1 events.

``generate_demo_events`` simulates a small fleet of agents built on the Charm SDK
(invoice-bot, support-triage, research-assistant, data-sync, sales-outreach) over the
last ``days`` days and returns the events their runs emitted, exactly as section 2 of
DESIGN.md specifies them. The data is shaped to exercise every page:

* a daily rhythm: busy working hours on weekdays, quiet nights and weekends;
* LLM answers streamed as ``llm_new_token`` events that read as sentences, one
  ``usage`` event per call (some with prompt-cache reads), a few very long streams
  and the occasional stall;
* tool spans (mostly with ``span_id``), agent actions, logs on stdout and stderr;
* endings: about 78% succeeded (some after a tool error they recovered from), 12%
  crashes that repeat by kind with varying ids (so error groups fill up), 4%
  validation failures, a few cancelled and timed-out runs;
* failed cloud runs with a local "twin": the same inputs, run shortly before on a
  developer machine with another runtime, that succeeded (debug checklist items 1, 5);
* revenue events (charges, subscriptions, refunds of earlier charges, credits) on the
  cloud runs of the revenue-earning agents.

Pure Python (no Django, no database) and deterministic for a given ``seed`` and
``now``. ``running_run_events`` adds runs that are still in progress at ``now``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import datetime

from runs.demo.agents import _AGENTS_BY_NAME, _Agent, _runtime
from runs.demo.helpers import _format_ts, _hex, _utc_now
from runs.demo.plans import _Plan, _plan_runs
from runs.demo.revenue import _Ledger
from runs.demo.simulator import Event, _Simulator

__all__ = ["generate_demo_events", "iter_demo_ndjson", "running_run_events"]


def _finalize(events: list[Event]) -> list[Event]:
    """Sort by time (then run and seq) and write ``ts`` as RFC 3339 strings."""
    events.sort(key=lambda event: (event["ts"], event["run_id"], event["seq"]))
    for event in events:
        event["ts"] = _format_ts(event["ts"])
    return events


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def generate_demo_events(
    *, seed: int = 7, now: datetime | None = None, runs: int = 300, days: int = 14
) -> list[Event]:
    """Return the protocol-v1 events of ``runs`` finished demo runs.

    The runs are spread over the ``days`` days before ``now`` (default: the current
    time, UTC) and all ended at least 15 minutes before it. Each event is a JSON-safe
    dict with ``v``, ``event_id``, ``run_id``, ``seq``, ``ts`` (RFC 3339, UTC, "Z"),
    ``type``, ``agent`` and ``data``; the list is sorted by ``ts``. The same ``seed``
    and ``now`` give the same events, ids included. The size grows linearly with
    ``runs``: about 300 events per run, most of them streamed tokens.
    """
    if runs < 0:
        raise ValueError("runs must be >= 0")
    if days <= 0:
        raise ValueError("days must be > 0")
    now = _utc_now(now)
    rng = random.Random(seed)
    ledger = _Ledger()
    events: list[Event] = []
    for plan in sorted(_plan_runs(rng, now, runs, days), key=lambda p: p.start):
        events.extend(_Simulator(plan, ledger).simulate())
    return _finalize(events)


_LIVE_AGENTS = ("research-assistant", "data-sync")


def running_run_events(
    *, seed: int = 7, now: datetime | None = None, count: int = 2, include_future: bool = False
) -> list[Event]:
    """Return the events of ``count`` runs that are still running at ``now``.

    A long research report being streamed and a full data resync, started a few
    minutes before ``now``: ``run_start``, status, tool calls, tokens, logs, and no
    end. With ``include_future`` the rest of each run (after ``now``, up to its
    ``run_end``) is included too, so a caller can replay it in real time to feed the
    live views. Deterministic for ``seed`` and ``now``; the ids come from a random stream
    of their own, apart from ``generate_demo_events``'.
    """
    now = _utc_now(now)
    rng = random.Random(f"charm-demo-live-{seed}")
    events: list[Event] = []
    for index in range(count):
        agent = _AGENTS_BY_NAME[_LIVE_AGENTS[index % len(_LIVE_AGENTS)]]
        run_events = _Simulator(_live_plan(rng, agent, now), ledger=None).simulate()
        # Far enough in that a research run is streaming its long report.
        elapsed = (run_events[-1]["ts"] - run_events[0]["ts"]) * rng.uniform(0.55, 0.85)
        shift = now - elapsed - run_events[0]["ts"]
        for event in run_events:
            event["ts"] += shift
        events += [e for e in run_events if include_future or e["ts"] <= now]
    return _finalize(events)


def _live_plan(rng: random.Random, agent: _Agent, now: datetime) -> _Plan:
    script_seed = rng.getrandbits(64)
    inputs = agent.make_inputs(random.Random(script_seed), now)
    if agent.name == "research-assistant":
        inputs["depth"] = "deep"
    else:
        inputs.update(full_resync=True, batch_size=500)
    return _Plan(
        run_id="run_" + _hex(rng, 12),
        agent=agent,
        version=agent.versions[-1],
        start=now,  # moved back once the run's length is known
        environment="cloud",
        ending="succeeded",
        inputs=inputs,
        runtime=_runtime(rng, "cloud", agent, 1.0),
        script_seed=script_seed,
        run_seed=rng.getrandbits(64),
    )


def iter_demo_ndjson(
    *,
    seed: int = 7,
    now: datetime | None = None,
    runs: int = 300,
    days: int = 14,
    include_running: bool = False,
) -> Iterator[str]:
    """Yield the demo events as NDJSON lines (each ends with a newline), oldest first.

    With ``include_running`` the in-progress runs of ``running_run_events`` are
    merged in. ``"".join(iter_demo_ndjson())`` is a valid body for
    ``POST /api/v1/ingest`` (``application/x-ndjson``).
    """
    now = _utc_now(now)
    events = generate_demo_events(seed=seed, now=now, runs=runs, days=days)
    if include_running:
        events += running_run_events(seed=seed, now=now)
        events.sort(key=lambda event: (event["ts"], event["run_id"], event["seq"]))
    for event in events:
        yield json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"
