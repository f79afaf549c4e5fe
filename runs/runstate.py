"""How a run's summary follows from its events: pure, order-independent folding.

The worker locks a run, loads its `RunState`, folds in the events that are new
(never re-sent ones), and writes the result. Folding the same events in any order,
over any split into batches, gives the same state.
"""

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime

from runs.protocol import TERMINAL_STATUSES, Event

# The status an event sets, when it sets one.
_STATUS_OF_TYPE = {"run_start": "running", "run_end": "succeeded", "error": "failed"}


@dataclass(frozen=True, slots=True)
class StatusKey:
    """Orders status-setting events: a terminal status beats a non-terminal one, then
    the later (ts, seq, event_id) wins. A late `running` never reopens a finished run."""

    terminal: bool
    ts: datetime
    seq: int
    event_id: str

    def as_tuple(self) -> tuple:
        return (self.terminal, self.ts, self.seq, self.event_id)


@dataclass(frozen=True, slots=True)
class RunState:
    run_id: str
    started_at: datetime
    first_event_at: datetime
    last_event_at: datetime
    agent_name: str = ""
    agent_version: str = ""
    environment: str = "cloud"
    status: str = "running"
    status_message: str = ""
    status_key: StatusKey | None = None
    has_run_start: bool = False
    ended_at: datetime | None = None
    inputs: object = None
    outputs: object = None
    input_fingerprint: str = ""
    runtime: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    error_type: str = ""
    error_message: str = ""
    event_count: int = 0
    tool_calls: int = 0
    tool_errors: int = 0

    @property
    def terminal(self) -> bool:
        return self.status_key is not None and self.status_key.terminal

    @property
    def duration_ms(self) -> int | None:
        if self.ended_at is None:
            return None
        return max(0, round((self.ended_at - self.started_at).total_seconds() * 1000))


def new_run_state(run_id: str, events: list[Event]) -> RunState:
    """The state of a run first seen in this batch, before folding its events."""
    first = min(e.ts for e in events)
    return RunState(run_id=run_id, started_at=first, first_event_at=first, last_event_at=first)


def input_fingerprint(inputs: object) -> str:
    """Same inputs, same fingerprint, whatever the key order: links local and cloud runs."""
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def status_change(event: Event) -> tuple[str, str] | None:
    """(status, message) that `event` sets, or None."""
    if event.type == "status":
        return event.data["status"], event.data.get("message") or ""
    status = _STATUS_OF_TYPE.get(event.type)
    if status is None:
        return None
    if event.type == "error":
        error = event.data["error"]
        return status, f"{error['type']}: {error['message']}"
    return status, ""


def fold_run(
    state: RunState, events: list[Event], *, token_times: list[datetime] = (), new_tokens: int = 0
) -> RunState:
    """Fold new events of one run into its state.

    Streamed tokens are not events here (they fold into LLM calls), but they do keep
    the run alive: `token_times` moves its first/last event time, `new_tokens` its count.
    """
    times = [state.first_event_at, state.last_event_at, *(e.ts for e in events), *token_times]
    changes: dict = {
        "first_event_at": min(times),
        "last_event_at": max(times),
        "event_count": state.event_count + len(events) + new_tokens,
        "tool_calls": state.tool_calls + sum(e.type == "tool_start" for e in events),
        "tool_errors": state.tool_errors + sum(e.type == "tool_error" for e in events),
    }
    state = replace(state, **changes)
    state = _fold_agent(state, events)
    for event in sorted(events, key=_event_order):
        if event.type == "run_start":
            state = _fold_run_start(state, event)
        state = _fold_status(state, event)
    if not state.has_run_start:
        state = replace(state, started_at=state.first_event_at)
    return state


def _event_order(event: Event) -> tuple:
    return (event.ts, event.seq if event.seq is not None else -1, event.event_id)


def _fold_agent(state: RunState, events: list[Event]) -> RunState:
    # run_start names the agent; any other event's agent fills the gap until it arrives.
    starts = [e for e in events if e.type == "run_start" and e.agent_name]
    if starts and (not state.has_run_start or min(e.ts for e in starts) < state.started_at):
        first = min(starts, key=_event_order)
        return replace(state, agent_name=first.agent_name, agent_version=first.agent_version or "")
    if not state.agent_name and not state.has_run_start:
        named = sorted((e for e in events if e.agent_name), key=_event_order)
        if named:
            return replace(
                state, agent_name=named[0].agent_name, agent_version=named[0].agent_version or ""
            )
    return state


def _fold_run_start(state: RunState, event: Event) -> RunState:
    if state.has_run_start and event.ts >= state.started_at:
        return state  # a re-sent or second run_start does not replace the first
    data = event.data
    return replace(
        state,
        has_run_start=True,
        started_at=event.ts,
        inputs=data.get("inputs"),
        input_fingerprint=input_fingerprint(data.get("inputs")),
        environment=data.get("environment") or "cloud",
        runtime=data.get("runtime") or {},
        config=data.get("config") or {},
    )


def _fold_status(state: RunState, event: Event) -> RunState:
    change = status_change(event)
    if event.type == "error" and not state.error_type:
        state = _with_error(state, event)
    if event.type == "run_end" and state.outputs is None:
        state = replace(state, outputs=event.data.get("outputs"))
    if change is None:
        return state
    status, message = change
    key = StatusKey(
        terminal=status in TERMINAL_STATUSES,
        ts=event.ts,
        seq=event.seq if event.seq is not None else -1,
        event_id=event.event_id,
    )
    if state.status_key is not None and key.as_tuple() <= state.status_key.as_tuple():
        return state
    state = replace(
        state,
        status=status,
        status_message=message,
        status_key=key,
        ended_at=event.ts if key.terminal else None,
    )
    if event.type == "error":
        state = _with_error(state, event)
    if event.type == "run_end":
        state = replace(state, outputs=event.data.get("outputs"))
    return state


def _with_error(state: RunState, event: Event) -> RunState:
    error = event.data["error"]
    return replace(state, error_type=error["type"], error_message=error["message"])
