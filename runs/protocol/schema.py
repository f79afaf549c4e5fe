"""Protocol v1 events as typed msgspec Structs, decoded and checked in C.

These Structs are the fast path for the event types a live agent sends by the
thousand (tokens, tool calls, logs, usage, status): one NDJSON line becomes a typed
event in about 0.6 µs, where `json.loads` and the field checks of `runs.protocol.events`
take about 7. They take exactly what those checks take and normalize it the same way;
anything they do not take (an unknown or rare type, a bad field, text that needs the
deep storable check) goes to `runs.protocol.events`, which decides and says precisely
what is wrong. `tests/runs/test_protocol_schema.py` holds the two to the same answers.
"""

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from runs.protocol.events import _MIN_EPOCH, _MIN_TS, _config, _log_level, _parse_rfc3339
from runs.protocol.types import (
    ENVIRONMENTS,
    LOG_STREAMS,
    OUTPUT_FORMATS,
    RUN_STATUSES,
    Event,
    EventError,
    _Context,
)

Name = Annotated[str, Meta(min_length=1, max_length=200)]
OptionalName = Annotated[str, Meta(max_length=200)] | None
OptionalId = Annotated[str, Meta(max_length=128)] | None
Count = Annotated[int, Meta(ge=0, le=2**63 - 1)]


class _Agent(Struct):
    name: Name
    version: Annotated[str, Meta(max_length=100)] | None = None


class _Envelope(Struct, tag_field="type", kw_only=True):
    v: Literal[1] = 1
    event_id: Annotated[str, Meta(min_length=1, max_length=64)]
    run_id: Annotated[str, Meta(min_length=1, max_length=128)] | None = None
    ts: str | int | float
    seq: Count | None = None
    agent: _Agent | None = None


class _ErrorInfo(Struct):
    type: Name
    message: str
    traceback: str | None = None

    def normalized(self) -> dict:
        return {"type": self.type, "message": self.message, "traceback": self.traceback or None}


class RunStartData(Struct):
    inputs: Any = None
    environment: Literal[ENVIRONMENTS] | None = None
    runtime: dict | None = None
    config: dict | None = None
    thread_id: OptionalName = None

    def normalized(self) -> dict:
        return {
            "inputs": self.inputs,
            "environment": self.environment or "cloud",
            "runtime": self.runtime or {},
            "config": _config({"config": self.config}),
            "thread_id": self.thread_id or None,
        }


class RunEndData(Struct):
    outputs: Any = None
    format: Literal[OUTPUT_FORMATS] | None = None

    def normalized(self) -> dict:
        return {"outputs": self.outputs, "format": self.format}


class ErrorData(Struct):
    error: _ErrorInfo

    def normalized(self) -> dict:
        return {"error": self.error.normalized()}


class ToolStartData(Struct):
    tool_name: Name
    input_str: Any = None
    span_id: OptionalId = None
    attributes: dict | None = None

    def normalized(self) -> dict:
        value = self.input_str
        if value is None:
            value = ""
        elif type(value) is not str:
            value = json.dumps(value, ensure_ascii=False)
        data = {"tool_name": self.tool_name, "input_str": value, "span_id": self.span_id or None}
        if self.attributes:
            data["attributes"] = self.attributes
        return data


class ToolEndData(Struct):
    tool_name: Name
    output: Any = None
    span_id: OptionalId = None

    def normalized(self) -> dict:
        return {"tool_name": self.tool_name, "output": self.output, "span_id": self.span_id or None}


class ToolErrorData(Struct):
    tool_name: Name
    error: _ErrorInfo
    span_id: OptionalId = None

    def normalized(self) -> dict:
        return {
            "tool_name": self.tool_name,
            "error": self.error.normalized(),
            "span_id": self.span_id or None,
        }


class TokenData(Struct):
    token: str
    model: OptionalName = None
    call_id: OptionalId = None

    def normalized(self) -> dict:
        return {"token": self.token, "model": self.model or None, "call_id": self.call_id or None}


class AgentActionData(Struct):
    tool: Name
    tool_input: Any = None

    def normalized(self) -> dict:
        return {"tool": self.tool, "tool_input": self.tool_input}


class StatusData(Struct):
    status: Literal[RUN_STATUSES]
    message: str | None = None
    thread_id: OptionalName = None
    next_step: Annotated[str, Meta(max_length=10_000)] | None = None

    def normalized(self) -> dict:
        return {
            "status": self.status,
            "message": self.message or None,
            "thread_id": self.thread_id or None,
            "next_step": self.next_step or None,
        }


class LogData(Struct):
    message: str
    level: str | None = None
    stream: Literal[LOG_STREAMS] | None = None
    logger: OptionalName = None
    attributes: dict | None = None

    def normalized(self) -> dict:
        data = {
            "message": self.message,
            "level": _log_level({"level": self.level}),
            "stream": self.stream or "stdout",
            "logger": self.logger or None,
        }
        if self.attributes:
            data["attributes"] = self.attributes
        return data


class UsageData(Struct):
    model: Name
    input_tokens: Count
    output_tokens: Count
    cache_read_tokens: Count = 0
    cache_write_tokens: Count = 0
    call_id: OptionalId = None

    def normalized(self) -> dict:
        return {
            "model": self.model,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "call_id": self.call_id or None,
        }


class ArtifactData(Struct):
    name: Annotated[str, Meta(min_length=1, max_length=500)]
    url: Annotated[str, Meta(max_length=4000)] | None = None
    mime: OptionalName = None

    def normalized(self) -> dict:
        return {"name": self.name, "url": self.url or None, "mime": self.mime or None}


class StateUpdateData(Struct):
    state: Any = None

    def normalized(self) -> dict:
        return {"state": self.state}


class RunStart(_Envelope, tag="run_start"):
    data: RunStartData


class RunEnd(_Envelope, tag="run_end"):
    data: RunEndData


class Error(_Envelope, tag="error"):
    data: ErrorData


class ToolStart(_Envelope, tag="tool_start"):
    data: ToolStartData


class ToolEnd(_Envelope, tag="tool_end"):
    data: ToolEndData


class ToolError(_Envelope, tag="tool_error"):
    data: ToolErrorData


class Token(_Envelope, tag="llm_new_token"):
    data: TokenData


class AgentAction(_Envelope, tag="agent_action"):
    data: AgentActionData


class Status(_Envelope, tag="status"):
    data: StatusData


class Log(_Envelope, tag="log"):
    data: LogData


class Usage(_Envelope, tag="usage"):
    data: UsageData


class Artifact(_Envelope, tag="artifact"):
    data: ArtifactData


class StateUpdate(_Envelope, tag="state_update"):
    data: StateUpdateData


FastEvent = (
    RunStart | RunEnd | Error | ToolStart | ToolEnd | ToolError | Token | AgentAction
    | Status | Log | Usage | Artifact | StateUpdate
)  # fmt: skip
_DECODER = msgspec.json.Decoder(FastEvent)


def fast_event(line: str | bytes, ctx: _Context) -> Event | None:
    """The event on one JSON line, if the typed path takes it; None hands the line to
    `runs.protocol.events`. Call only for text that needs no deep storable check."""
    try:
        typed = _DECODER.decode(line)
    except msgspec.DecodeError:  # ValidationError is one: a bad field, an unknown type
        return None
    run_id = typed.run_id or ctx.default_run_id
    ts = _timestamp(typed.ts, ctx)
    if run_id is None or ts is None:
        return None
    agent = typed.agent
    if agent is None:
        if type(typed) is RunStart:
            return None  # run_start needs an agent: the slow path says so
        name = version = None
    else:
        name, version = agent.name, agent.version or None
    try:
        data = typed.data.normalized()
    except EventError:
        return None
    return Event(typed.event_id, run_id, _TAGS[type(typed)], ts, typed.seq, name, version, data)


_TAGS = {cls: cls.__struct_config__.tag for cls in FastEvent.__args__}


def _timestamp(value: str | int | float, ctx: _Context) -> datetime | None:
    if type(value) is str:
        try:
            ts = _parse_rfc3339(value)
        except EventError:
            return None
        return ts if _MIN_TS <= ts <= ctx.latest_ts else None
    if _MIN_EPOCH <= value <= ctx.latest_epoch:
        return datetime.fromtimestamp(value, UTC)
    return None
