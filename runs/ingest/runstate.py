"""How a run's summary follows from its events: pure, order-independent folding.

The worker locks a run, loads its `RunState`, folds in the events that are new
(never re-sent ones), and writes the result. Folding the same events in any order,
over any split into batches, gives the same state.
"""

import hashlib
import json
from datetime import datetime

import msgspec
from msgspec.structs import replace

from runs.protocol import Event

# The status an event sets, when it sets one.
_STATUS_OF_TYPE = {"run_start": "running", "run_end": "succeeded", "error": "failed"}

# How strongly a status holds, so the outcome never depends on arrival order: a run that
# failed anywhere stays failed, a suspension outlasts the answer emitted with it, and an
# end inferred from the stream (it stopped, or the process exited 0) only settles a run
# that nothing else settled. Rank 0 is "still going": anything settled beats it.
SOFT_END = 1
_RANK = {
    "succeeded": 2,
    "suspended": 3,
    "cancelled": 4,
    "timed_out": 4,
    "validation_failed": 4,
    "failed": 4,
}
_SOFT_END_TYPES = frozenset({"stream_end", "process_exit"})
OOM_EXIT_CODE = 137  # SIGKILL: in a container, almost always the memory limit


def status_rank(status: str) -> int:
    return _RANK.get(status, 0)


class StatusKey(msgspec.Struct, frozen=True):
    """Orders status-setting events: the higher rank wins, then the later
    (ts, seq, event_id). A late `running` never reopens a finished run."""

    rank: int
    ts: datetime
    seq: int
    event_id: str

    @property
    def terminal(self) -> bool:
        """Settled: finished, or suspended waiting for a human (not live, never stalled)."""
        return self.rank > 0

    def as_tuple(self) -> tuple:
        return (self.rank, self.ts, self.seq, self.event_id)


class RunState(msgspec.Struct, frozen=True, kw_only=True):
    """A run's summary as its events fold into it. A Struct, not a frozen dataclass:
    each event folds in through `replace`, which costs a dataclass several times more."""

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
    runtime: dict = msgspec.field(default_factory=dict)
    config: dict = msgspec.field(default_factory=dict)
    error_type: str = ""
    error_message: str = ""
    event_count: int = 0
    tool_calls: int = 0
    tool_errors: int = 0
    output_format: str = ""
    exit_code: int | None = None
    state: dict | None = None  # {"value", "ts", "seq", "event_id"}: the latest snapshot
    thread_id: str = ""
    next_step: str = ""
    artifacts: list = msgspec.field(default_factory=list)
    tool_usage: dict = msgspec.field(default_factory=dict)
    # What the process's runner measured (internal_run_finished): a capture sent after
    # the fact arrives within milliseconds, so its receive times say nothing of its length.
    reported_duration_ms: int | None = None

    @property
    def terminal(self) -> bool:
        return self.status_key is not None and self.status_key.terminal

    @property
    def duration_ms(self) -> int | None:
        if self.ended_at is None:
            return None
        if self.reported_duration_ms is not None:
            return self.reported_duration_ms
        return self.timed_duration_ms

    @property
    def timed_duration_ms(self) -> int:
        """From the run's start to its end as Studio dated them."""
        return max(0, round((self.ended_at - self.started_at).total_seconds() * 1000))


def new_run_state(run_id: str, events: list[Event]) -> RunState:
    """The state of a run first seen in this batch, before folding its events."""
    first = min(e.ts for e in events)
    return RunState(run_id=run_id, started_at=first, first_event_at=first, last_event_at=first)


def input_fingerprint(inputs: object) -> str:
    """Same inputs, same fingerprint, whatever the key order: links local and cloud runs.
    Unknown inputs (a Charm stream does not carry them) link nothing."""
    if inputs is None:
        return ""
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def status_change(event: Event) -> tuple[str, str] | None:
    """(status, message) that `event` sets, or None."""
    if event.type == "status":
        return event.data["status"], event.data.get("message") or ""
    if event.type == "process_exit":
        code = event.data["exit_code"]
        if code == 0:
            return "succeeded", "The process exited with code 0."
        return "failed", exit_message(code)
    if event.type == "stream_end":
        return "succeeded", "The stream ended."
    status = _STATUS_OF_TYPE.get(event.type)
    if status is None:
        return None
    if event.type == "error":
        error = event.data["error"]
        return status, f"{error['type']}: {error['message']}"
    return status, ""


def exit_message(code: int) -> str:
    if code == OOM_EXIT_CODE:
        return "The process was killed (exit code 137): likely out of memory."
    return f"The process exited with code {code}."


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
        elif event.type in _FOLD_EXTRA:
            state = _FOLD_EXTRA[event.type](state, event)
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
        thread_id=data.get("thread_id") or state.thread_id,
    )


def _fold_status(state: RunState, event: Event) -> RunState:
    change = status_change(event)
    if event.type == "error" and not state.error_type:
        state = _with_error(state, event)
    if event.type == "run_end" and state.outputs is None:
        state = replace(
            state, outputs=event.data.get("outputs"), output_format=event.data.get("format") or ""
        )
    if change is None:
        return state
    status, message = change
    key = StatusKey(
        rank=SOFT_END
        if event.type in _SOFT_END_TYPES and status == "succeeded"
        else status_rank(status),
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
        # `charm run --json` repeats the final output without its format: keep the format.
        state = replace(
            state,
            outputs=event.data.get("outputs"),
            output_format=event.data.get("format") or state.output_format,
        )
    if event.type == "process_exit" and status == "failed" and not state.error_type:
        state = replace(state, error_type="ProcessExit", error_message=message)
    if status == "suspended":
        state = replace(
            state,
            thread_id=event.data.get("thread_id") or state.thread_id,
            next_step=event.data.get("next_step") or state.next_step,
        )
    return state


MAX_ARTIFACTS = 200


def _fold_artifact(state: RunState, event: Event) -> RunState:
    if len(state.artifacts) >= MAX_ARTIFACTS:
        return state
    artifact = {**event.data, "ts": event.ts.isoformat(), "event_id": event.event_id}
    artifacts = sorted([*state.artifacts, artifact], key=lambda a: (a["ts"], a["event_id"]))
    return replace(state, artifacts=artifacts)


def _fold_tool_usage(state: RunState, event: Event) -> RunState:
    tool, count = event.data["tool"], event.data["count"]
    return replace(
        state, tool_usage={**state.tool_usage, tool: state.tool_usage.get(tool, 0) + count}
    )


def _fold_state_update(state: RunState, event: Event) -> RunState:
    seq = event.seq if event.seq is not None else -1
    held = state.state
    if held is not None and (held["ts"], held["seq"], held["event_id"]) >= (
        event.ts.isoformat(),
        seq,
        event.event_id,
    ):
        return state  # the latest snapshot wins, whatever order they came in
    snapshot = {
        "value": event.data.get("state"),
        "ts": event.ts.isoformat(),
        "seq": seq,
        "event_id": event.event_id,
    }
    return replace(state, state=snapshot)


def _fold_process_exit(state: RunState, event: Event) -> RunState:
    duration = event.data.get("duration_ms")
    return replace(
        state,
        exit_code=event.data["exit_code"],
        reported_duration_ms=state.reported_duration_ms if duration is None else duration,
    )


_FOLD_EXTRA = {
    "artifact": _fold_artifact,
    "tool_usage": _fold_tool_usage,
    "state_update": _fold_state_update,
    "process_exit": _fold_process_exit,
}


def _with_error(state: RunState, event: Event) -> RunState:
    error = event.data["error"]
    return replace(state, error_type=error["type"], error_message=error["message"])
