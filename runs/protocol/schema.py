"""Protocol v1 events as typed msgspec Structs: the protocol's one definition.

A JSON line is decoded and checked in C (`line_event`), and so is an object already
decoded (`object_event`: validate_event, a Charm stream's event lines, whatever a line
fails on). What a Struct refuses is told by `runs.protocol.messages`, from the failing
field's own annotation; the rules no annotation can state (timestamps, money, the log
level's case...) are the plain functions of `runs.protocol.rules` the fields and the
normalization call. The same Structs write the OpenAPI data schemas and docs/protocol.md.
"""

import json
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Union

import msgspec
from msgspec import Meta, Struct

from billing.currencies import CODES as CURRENCY_CODES
from billing.currencies import ISO_4217_PUBLISHED
from runs.protocol.codec import _format_ts
from runs.protocol.messages import _problem
from runs.protocol.rules import (
    AGENT_REQUIRED,
    RFC3339_EXPECTED,
    TS_EXPECTED,
    _amount_problem,
    _currency_problem,
    _env_name_problem,
    _log_level,
    _money,
    _parse_rfc3339,
    _timestamp,
    _version_problem,
)
from runs.protocol.types import (
    ENVIRONMENTS,
    LOG_LEVELS,
    LOG_STREAMS,
    OUTPUT_FORMATS,
    REVENUE_KINDS,
    RUN_STATUSES,
    Event,
    EventError,
    _Context,
)

Name = Annotated[str, Meta(min_length=1, max_length=200)]
OptionalName = Annotated[str, Meta(max_length=200)] | None
Count = Annotated[int, Meta(ge=0, le=2**63 - 1)]
OptionalCount = Count | None
ToolName = Annotated[str, Meta(min_length=1, max_length=200, examples=["search"])]
SpanId = (
    Annotated[
        str,
        Meta(
            max_length=128,
            description="Pairs a tool_start with its tool_end or tool_error. Without it, "
            "starts and ends pair in order per tool name.",
        ),
    ]
    | None
)
CallId = (
    Annotated[
        str,
        Meta(
            max_length=128, description="Groups the streamed tokens and the usage of one LLM call."
        ),
    ]
    | None
)
Attributes = (
    Annotated[
        dict,
        Meta(
            description="Anything else the item carried (an OpenTelemetry span's attributes): "
            "kept and shown on the item."
        ),
    ]
    | None
)
CacheCount = Annotated[int, Meta(ge=0, le=2**63 - 1, description="Priced apart.")] | None
Timestamp = Annotated[
    str,
    Meta(
        extra_json_schema={"format": "date-time"},
        examples=["2026-11-25T11:24:41.123456Z"],
        extra={"expected": RFC3339_EXPECTED},
    ),
]
ConfigName = Annotated[
    str,
    Meta(min_length=1, max_length=200, extra={"expected": "a name (a string of 1–200 characters)"}),
]


def case_insensitive_pattern(words) -> str:
    """A pattern for any of `words` in any case (JSON Schema has no case flag)."""
    return "^(?:" + "|".join("".join(f"[{c}{c.upper()}]" for c in w) for w in words) + ")$"


class _Agent(Struct):
    expected: ClassVar[str] = 'an object like {"name": "invoice-bot"}'

    name: Name
    version: Annotated[str, Meta(max_length=100)] | None = None


class _Envelope(Struct, tag_field="type", kw_only=True):
    v: Annotated[Literal[1], Meta(extra={"problem": _version_problem})] = 1
    event_id: Annotated[str, Meta(min_length=1, max_length=64)]
    run_id: Annotated[str, Meta(min_length=1, max_length=128)]
    ts: Annotated[str | int | float, Meta(extra={"expected": TS_EXPECTED})]
    seq: Count | None = None
    agent: _Agent | None = None


class ErrorInfo(Struct):
    """An exception. Unknown fields are ignored."""

    expected: ClassVar[str] = 'an object like {"type": "KeyError", "message": "..."}'

    type: Annotated[str, Meta(min_length=1, max_length=200, examples=["KeyError"])]
    message: Annotated[str, Meta(description="May be empty.")]
    traceback: str | None = None

    def normalized(self) -> dict:
        return {"type": self.type, "message": self.message, "traceback": self.traceback or None}


class RunConfig(Struct):
    """Only `required_env` and `oauth` are kept; other keys are dropped so a config never
    carries secrets."""

    required_env: (
        Annotated[
            list[
                Annotated[ConfigName, Meta(pattern="^[^=]*$", extra={"problem": _env_name_problem})]
            ],
            Meta(
                description="Environment variable names, never values: a name holding `=` "
                "is rejected.",
                extra={"expected": "an array of names"},
            ),
        ]
        | None
    ) = None
    oauth: (
        Annotated[
            list[ConfigName],
            Meta(description="OAuth connection names.", extra={"expected": "an array of names"}),
        ]
        | None
    ) = None


class RunStartData(Struct):
    inputs: Any = None
    environment: (
        Annotated[Literal[ENVIRONMENTS], Meta(extra_json_schema={"default": "cloud"})] | None
    ) = None
    runtime: (
        Annotated[
            dict,
            Meta(
                description="Free-form: sdk_version, python, image, region…",
                examples=[{"sdk_version": "0.15.0", "python": "3.12.7"}],
            ),
        ]
        | None
    ) = None
    config: RunConfig | None = None
    thread_id: (
        Annotated[
            str,
            Meta(
                max_length=200,
                description="The conversation or session the run belongs to: runs of one "
                "thread are linked.",
            ),
        ]
        | None
    ) = None

    def normalized(self) -> dict:
        config = self.config
        return {
            "inputs": self.inputs,
            "environment": self.environment or "cloud",
            "runtime": self.runtime or {},
            "config": {
                "required_env": (config and config.required_env) or [],
                "oauth": (config and config.oauth) or [],
            },
            "thread_id": self.thread_id or None,
        }


class RunEndData(Struct):
    outputs: Any = None
    format: (
        Annotated[Literal[OUTPUT_FORMATS], Meta(description="How to show the outputs.")] | None
    ) = None

    def normalized(self) -> dict:
        return {"outputs": self.outputs, "format": self.format}


class ErrorData(Struct):
    """The run crashed (on_error): it ends as failed."""

    error: ErrorInfo

    def normalized(self) -> dict:
        return {"error": self.error.normalized()}


class ToolStartData(Struct):
    tool_name: ToolName
    input_str: Annotated[
        Any,
        Meta(
            description="The tool's input; a value that is not a string is stored as its JSON "
            "text. Null or absent is stored as an empty string."
        ),
    ] = None
    span_id: SpanId = None
    attributes: Attributes = None

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
    tool_name: ToolName
    output: Any = None
    span_id: SpanId = None

    def normalized(self) -> dict:
        return {"tool_name": self.tool_name, "output": self.output, "span_id": self.span_id or None}


class ToolErrorData(Struct):
    tool_name: ToolName
    error: ErrorInfo
    span_id: SpanId = None

    def normalized(self) -> dict:
        return {
            "tool_name": self.tool_name,
            "error": self.error.normalized(),
            "span_id": self.span_id or None,
        }


class LlmNewTokenData(Struct):
    """Not stored as an event: the tokens of a call fold into one LLM call (text, token
    count, timing), deduplicated and ordered by seq, else event_id."""

    token: Annotated[str, Meta(description="One streamed piece of text; may be empty.")]
    model: OptionalName = None
    call_id: CallId = None

    def normalized(self) -> dict:
        return {"token": self.token, "model": self.model or None, "call_id": self.call_id or None}


class LlmCallData(Struct):
    """One whole LLM call told at once (an OpenTelemetry LLM span, or a client that does
    not stream): priced like `usage`; tokens streamed for the same call_id keep their text."""

    call_id: Annotated[str, Meta(min_length=1, max_length=128)]
    model: Annotated[str, Meta(min_length=1, max_length=200, examples=["gpt-4o"])]
    started_at: (
        Annotated[Timestamp, Meta(description="When the call was sent; `ts` is when it ended.")]
        | None
    ) = None
    input: Annotated[
        Any,
        Meta(
            description="What the model was sent: a list of `{role, content}` messages or any "
            "JSON value."
        ),
    ] = None
    output: (
        Annotated[
            str,
            Meta(
                description="The answer's text.",
                extra={"expected": "the answer's text, a string"},
            ),
        ]
        | None
    ) = None
    input_tokens: OptionalCount = None
    output_tokens: OptionalCount = None
    cache_read_tokens: CacheCount = None
    cache_write_tokens: CacheCount = None
    error: ErrorInfo | None = None
    attributes: Attributes = None

    def normalized(self) -> dict:
        started_at = self.started_at
        if started_at is not None:
            started_at = _format_ts(_parse_rfc3339(started_at, "data.started_at"))
        return {
            "call_id": self.call_id,
            "model": self.model,
            "started_at": started_at,
            "input": self.input,
            "output": self.output or "",
            "input_tokens": self.input_tokens or 0,
            "output_tokens": self.output_tokens or 0,
            "cache_read_tokens": self.cache_read_tokens or 0,
            "cache_write_tokens": self.cache_write_tokens or 0,
            "error": self.error.normalized() if self.error is not None else None,
            "attributes": self.attributes or {},
        }


class AgentActionData(Struct):
    tool: Name
    tool_input: Any = None

    def normalized(self) -> dict:
        return {"tool": self.tool, "tool_input": self.tool_input}


class StatusData(Struct):
    """A settled status (succeeded, failed, cancelled, timed_out, validation_failed, and
    suspended: waiting for a human) is never replaced by a later unsettled one; among
    settled ones failure outranks suspension, which outranks success, whatever order they
    arrive in."""

    status: Literal[RUN_STATUSES]
    message: str | None = None
    thread_id: (
        Annotated[
            str, Meta(max_length=200, description="For `suspended`: the thread a resume continues.")
        ]
        | None
    ) = None
    next_step: (
        Annotated[
            str, Meta(max_length=10_000, description="For `suspended`: what the human is asked.")
        ]
        | None
    ) = None

    def normalized(self) -> dict:
        return {
            "status": self.status,
            "message": self.message or None,
            "thread_id": self.thread_id or None,
            "next_step": self.next_step or None,
        }


class LogData(Struct):
    message: Annotated[str, Meta(description="May be empty.")]
    level: (
        Annotated[
            str,
            Meta(
                pattern=case_insensitive_pattern((*LOG_LEVELS, "warn")),
                description=f"One of {', '.join(LOG_LEVELS)}, in any case; `warn` is read as "
                "warning. Default info; stored in lower case.",
                extra_json_schema={"default": "info"},
                extra={"expected": "one of " + ", ".join(LOG_LEVELS)},
            ),
        ]
        | None
    ) = None
    stream: (
        Annotated[Literal[LOG_STREAMS], Meta(extra_json_schema={"default": "stdout"})] | None
    ) = None
    logger: OptionalName = None
    attributes: Attributes = None

    def normalized(self) -> dict:
        data = {
            "message": self.message,
            "level": _log_level(self.level),
            "stream": self.stream or "stdout",
            "logger": self.logger or None,
        }
        if self.attributes:
            data["attributes"] = self.attributes
        return data


class UsageData(Struct):
    """Billed tokens of one LLM call; priced from the model price table."""

    model: Annotated[str, Meta(min_length=1, max_length=200, examples=["gpt-4o"])]
    input_tokens: Count
    output_tokens: Count
    cache_read_tokens: CacheCount = None
    cache_write_tokens: CacheCount = None
    call_id: CallId = None

    def normalized(self) -> dict:
        return {
            "model": self.model,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens or 0,
            "cache_write_tokens": self.cache_write_tokens or 0,
            "call_id": self.call_id or None,
        }


class RevenueData(Struct):
    kind: Literal[REVENUE_KINDS]
    amount: Annotated[
        str,
        Meta(
            pattern=r"^0*[0-9]{1,12}(\.[0-9]{1,6})?$",
            description="A decimal string under 10^12, never negative (the kind says which way "
            "the money moves), with no more decimals than the currency's ISO 4217 minor units: "
            '"1234" JPY, "12.50" USD, "1.500" KWD ("12.5" JPY is rejected; trailing zeros do '
            'not count). Stored in the minor units: "7" USD is kept as "7.00". A JSON number '
            "is rejected (floats lose cents).",
            examples=["12.50"],
            extra={"expected": 'a decimal string like "12.50"', "problem": _amount_problem},
        ),
    ]
    currency: Annotated[
        str,
        Meta(
            pattern=case_insensitive_pattern(tuple(code.lower() for code in CURRENCY_CODES)),
            description=f"An ISO 4217 currency code (the table published {ISO_4217_PUBLISHED}), "
            "in any case; stored in upper case. Codes that are not money (XAU, XDR, XTS, XXX...: "
            "no minor units) are rejected.",
            examples=["USD", "JPY", "KWD"],
            extra={
                "expected": 'an ISO 4217 currency code like "USD"',
                "problem": _currency_problem,
            },
        ),
    ]
    customer: OptionalName = None
    external_id: (
        Annotated[
            str, Meta(max_length=200, description="The billing system's id; unique per project.")
        ]
        | None
    ) = None
    refund_of: (
        Annotated[
            str, Meta(max_length=200, description="For a refund: the external_id of the charge.")
        ]
        | None
    ) = None
    metadata: dict | None = None

    def normalized(self) -> dict:
        return {
            "kind": self.kind,
            **_money(self.amount, self.currency),
            "customer": self.customer or None,
            "external_id": self.external_id or None,
            "refund_of": self.refund_of or None,
            "metadata": self.metadata,
        }


class ArtifactData(Struct):
    """A file the agent produced."""

    name: Annotated[str, Meta(min_length=1, max_length=500)]
    url: (
        Annotated[str, Meta(max_length=4000, description="A link; Studio never fetches it.")] | None
    ) = None
    mime: OptionalName = None

    def normalized(self) -> dict:
        return {"name": self.name, "url": self.url or None, "mime": self.mime or None}


class ToolUsageData(Struct):
    """Billable uses of a tool: counted per day, agent and tool, priced from the tool
    price table."""

    tool: ToolName
    count: Annotated[int, Meta(ge=1, le=10**9)] = 1

    def normalized(self) -> dict:
        return {"tool": self.tool, "count": self.count}


class StateUpdateData(Struct):
    """The agent's state; the latest snapshot is shown on the run."""

    state: Any = None

    def normalized(self) -> dict:
        return {"state": self.state}


class ProcessExitData(Struct):
    """The run's process ended: a non-zero code fails the run (137: killed, likely out of
    memory); 0 ends a run nothing else ended as succeeded."""

    exit_code: Annotated[
        int,
        Meta(
            ge=-(2**31),
            le=2**31 - 1,
            extra={"expected": "a whole number (the process's exit status)"},
        ),
    ]
    duration_ms: OptionalCount = None

    def normalized(self) -> dict:
        return {"exit_code": self.exit_code, "duration_ms": self.duration_ms}


class StreamEndData(Struct):
    """The run's stream ended (X-Charm-Stream-End): a run nothing else ended is
    succeeded."""

    lines: OptionalCount = None

    def normalized(self) -> dict:
        return {"lines": self.lines or 0}


# Each event type's data, by type: the protocol's one definition of what data holds.
EVENT_DATA_TYPES: dict[str, type[Struct]] = {
    "run_start": RunStartData, "run_end": RunEndData, "error": ErrorData,
    "tool_start": ToolStartData, "tool_end": ToolEndData, "tool_error": ToolErrorData,
    "llm_new_token": LlmNewTokenData, "llm_call": LlmCallData,
    "agent_action": AgentActionData, "status": StatusData, "log": LogData, "usage": UsageData,
    "revenue": RevenueData, "artifact": ArtifactData, "tool_usage": ToolUsageData,
    "state_update": StateUpdateData, "process_exit": ProcessExitData,
    "stream_end": StreamEndData,
}  # fmt: skip
_EVENTS = {
    event_type: msgspec.defstruct(
        "".join(part.title() for part in event_type.split("_")) + "Typed",
        [("data", data_type)],
        bases=(_Envelope,),
        tag=event_type,
    )
    for event_type, data_type in EVENT_DATA_TYPES.items()
}
_EVENT = Union[tuple(_EVENTS.values())]  # noqa: UP007
_DECODER = msgspec.json.Decoder(_EVENT)
_TAGS = {cls: event_type for event_type, cls in _EVENTS.items()}


def data_schemas(ref_template: str) -> dict[str, dict]:
    """JSON Schemas of every type's data and of the objects they hold, by Struct name."""
    _, components = msgspec.json.schema_components(
        list(EVENT_DATA_TYPES.values()), ref_template=ref_template
    )
    for schema in components.values():
        for prop in schema.get("properties", {}).values():
            _lift_default(prop)
    return components


def _lift_default(prop: dict) -> None:
    """A field that may be null but means a value when it is ("stream": null is
    stdout) says that value as its default, not null."""
    for branch in prop.get("anyOf", ()):
        if "default" in branch:
            prop["default"] = branch.pop("default")


def line_event(line: str | bytes, ctx: _Context) -> Event | None:
    """The event on one JSON line, or None when it is not one: `object_event` then says
    why, from the decoded line. Call only for text that needs no deep storable check."""
    try:
        typed = _DECODER.decode(line)
    except msgspec.DecodeError:  # ValidationError is one: a bad field, an unknown type
        return None
    try:
        return _event(typed, ctx)
    except EventError:
        return None


def object_event(
    obj: object,
    ctx: _Context,
    default_event_id: str | None = None,
    default_ts: datetime | None = None,
) -> Event:
    """The event a decoded object holds; raises `EventError` saying what is wrong.
    The defaults (a stream line's) fill an event_id or ts that is absent or null."""
    shape = _EVENT
    if type(obj) is dict:
        obj = _with_defaults(obj, ctx.default_run_id, default_event_id, default_ts)
        tag = obj.get("type")
        if type(tag) is str:
            # The type's own Struct, which checks the tag too: converting to the Union
            # costs 15 times more, as msgspec caches what it learns of a type on Structs.
            shape = _EVENTS.get(tag, _EVENT)
    try:
        typed = msgspec.convert(obj, shape)
    except msgspec.ValidationError as error:
        raise EventError(_problem(error, obj, _EVENTS)) from None
    return _event(typed, ctx)


def _with_defaults(
    obj: dict, run_id: str | None, event_id: str | None, ts: datetime | None
) -> dict:
    # Null or absent data is no data: each type's Struct then says what it requires.
    filled = {}
    if obj.get("data") is None:
        filled["data"] = {}
    if run_id is not None and obj.get("run_id") is None:
        filled["run_id"] = run_id
    if event_id is not None and obj.get("event_id") is None:
        filled["event_id"] = event_id
    if ts is not None and obj.get("ts") is None:
        filled["ts"] = _format_ts(ts)
    return {**obj, **filled} if filled else obj


def _event(typed: _Envelope, ctx: _Context) -> Event:
    agent = typed.agent
    if agent is None:
        if type(typed) is _EVENTS["run_start"]:
            raise EventError(AGENT_REQUIRED)
        name = version = None
    else:
        name, version = agent.name, agent.version or None
    ts = _timestamp(typed.ts, ctx)
    data = typed.data.normalized()
    return Event(
        typed.event_id, typed.run_id, _TAGS[type(typed)], ts, typed.seq, name, version, data
    )
