"""One event: validation of the envelope fields and normalization of the type-specific data."""

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import NoReturn

from billing.currencies import MINOR_UNITS, NOT_MONEY, decimal_places, quantum
from runs.protocol.codec import _format_ts, _utc_now
from runs.protocol.describe import _describe, _show
from runs.protocol.storable import _check_size, _check_storable
from runs.protocol.types import (
    _FUTURE_SLACK,
    ENVIRONMENTS,
    EVENT_TYPES,
    LOG_LEVELS,
    LOG_STREAMS,
    MAX_EVENT_BYTES,
    OUTPUT_FORMATS,
    REVENUE_KINDS,
    RUN_STATUSES,
    Event,
    EventError,
    _Context,
)

_MISSING = object()
_UNLIMITED = MAX_EVENT_BYTES
_MAX_INT = 2**63
_MAX_AMOUNT = Decimal(10**12)
_MIN_TS = datetime(2000, 1, 1, tzinfo=UTC)
_MIN_EPOCH = _MIN_TS.timestamp()
_DECIMAL_TEXT = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_EXAMPLE_TS = '"2026-11-25T11:24:41.123456Z"'


def validate_event(obj: object) -> Event:
    """Validate one decoded event object, raising `EventError` on the first problem."""
    _check_storable(obj)
    _check_size(obj)
    return _event(obj, _Context.at(_utc_now()))


def _event(
    obj: object,
    ctx: _Context,
    default_event_id: str | None = None,
    default_ts: datetime | None = None,
) -> Event:
    if type(obj) is not dict:
        raise EventError(f"expected an event object, got {_describe(obj)}")
    version = obj.get("v", 1)
    if version != 1 or type(version) is not int:
        raise EventError(f"v: unsupported protocol version {_show(version)}; this server speaks 1")
    event_type = obj.get("type", _MISSING)
    normalize = _NORMALIZERS.get(event_type) if type(event_type) is str else None
    if normalize is None:
        raise EventError(_type_problem(event_type))
    event_id = obj.get("event_id")
    if event_id is None:
        event_id = default_event_id
    if type(event_id) is not str or not 0 < len(event_id) <= 64:
        _fail("event_id", "a string of 1–64 characters", obj.get("event_id", _MISSING))
    run_id = obj.get("run_id")
    if run_id is None:
        run_id = ctx.default_run_id
    if type(run_id) is not str or not 0 < len(run_id) <= 128:
        _fail("run_id", "a string of 1–128 characters", obj.get("run_id", _MISSING))
    ts = obj.get("ts", _MISSING)
    if default_ts is not None and (ts is _MISSING or ts is None):
        ts = default_ts
    else:
        ts = _timestamp(ts, ctx)
    seq = obj.get("seq")
    if seq is not None and (type(seq) is not int or not 0 <= seq < _MAX_INT):
        _fail("seq", "a whole number from 0 to 2^63-1", seq)
    agent_name, agent_version = _agent(obj.get("agent"), event_type)
    data = obj.get("data")
    if data is None:
        data = {}
    elif type(data) is not dict:
        _fail("data", "an object", data)
    return Event(event_id, run_id, event_type, ts, seq, agent_name, agent_version, normalize(data))


def _type_problem(value: object) -> str:
    valid = ", ".join(EVENT_TYPES)
    if value is _MISSING:
        return f"type: required field is missing; valid types are: {valid}"
    if type(value) is str:
        return f"type: unknown event type {value!r}; valid types are: {valid}"
    return f"type: expected a string, got {_describe(value)}; valid types are: {valid}"


def _agent(agent: object, event_type: str) -> tuple[str | None, str | None]:
    if agent is None:
        if event_type == "run_start":
            raise EventError(
                "agent: required on run_start events; expected an object like "
                '{"name": "invoice-bot", "version": "1.4.0"}'
            )
        return None, None
    if type(agent) is not dict:
        _fail("agent", 'an object like {"name": "invoice-bot"}', agent)
    name = _string(agent, "name", "agent.name", max_len=200)
    return name, _optional_string(agent, "version", "agent.version", max_len=100)


def _timestamp(value: object, ctx: _Context) -> datetime:
    kind = type(value)
    if kind is str:
        ts = _parse_rfc3339(value)
        if _MIN_TS <= ts <= ctx.latest_ts:
            return ts
        raise EventError(_ts_range_problem(ts, ctx))
    if kind is int or kind is float:
        if _MIN_EPOCH <= value <= ctx.latest_epoch:
            return datetime.fromtimestamp(value, UTC)
        raise EventError(_epoch_range_problem(value, ctx))
    _fail("ts", f"an RFC 3339 timestamp like {_EXAMPLE_TS} or Unix epoch seconds", value)


def _parse_rfc3339(text: str) -> datetime:
    if (
        len(text) < 19
        or text[4] != "-"
        or text[7] != "-"
        or text[10] not in "Tt "
        or text[13] != ":"
        or text[16] != ":"
    ):
        _fail("ts", f"an RFC 3339 timestamp like {_EXAMPLE_TS}", text)
    if text[-1] == "z":
        text = text[:-1] + "Z"
    # Python 3.11's fromisoformat reads 'Z' and truncates digits past microseconds.
    try:
        ts = datetime.fromisoformat(text)
    except ValueError as exc:
        reason = "" if str(exc).startswith("Invalid isoformat") else f" ({exc})"
        raise EventError(
            f"ts: expected an RFC 3339 timestamp like {_EXAMPLE_TS}, got {_describe(text)}{reason}"
        ) from None
    tzinfo = ts.tzinfo
    if tzinfo is UTC:
        return ts
    if tzinfo is None:
        raise EventError(
            f"ts: {text!r} has no UTC offset; end it with 'Z' or an offset like '+02:00'"
        )
    try:
        return ts.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 with an offset: no such UTC time
        raise EventError(
            f"ts: {text!r} is outside the years 1 to 9999 in UTC; check the emitter's clock"
        ) from None


def _ts_range_problem(ts: datetime, ctx: _Context) -> str:
    shown = _format_ts(ts)
    if ts < _MIN_TS:
        return f"ts: {shown} is before 2000-01-01; check the emitter's clock"
    now = _format_ts(ctx.latest_ts - _FUTURE_SLACK)
    return (
        f"ts: {shown} is more than 24 hours ahead of the server's clock ({now}); "
        "check the emitter's clock"
    )


def _epoch_range_problem(value: float, ctx: _Context) -> str:
    if value < _MIN_EPOCH:
        return f"ts: {value!r} seconds since 1970 is before 2000-01-01; check the emitter's clock"
    for divisor, unit in ((1e3, "milliseconds"), (1e6, "microseconds"), (1e9, "nanoseconds")):
        if _MIN_EPOCH <= value / divisor <= ctx.latest_epoch:
            return (
                f"ts: {value!r} is too large for Unix epoch seconds; it looks like {unit}: "
                f"send seconds (divide by {divisor:,.0f})"
            )
    return (
        f"ts: {value!r} seconds since 1970 is more than 24 hours ahead of the server's clock; "
        "check the emitter's clock"
    )


# Field helpers: fast check first, the error message built only on failure ----------------


def _fail(path: str, expected: str, value: object) -> NoReturn:
    if value is _MISSING:
        raise EventError(f"{path}: required field is missing; expected {expected}")
    raise EventError(f"{path}: expected {expected}, got {_describe(value)}")


def _string(
    source: dict, key: str, path: str, *, max_len: int = _UNLIMITED, min_len: int = 1
) -> str:
    value = source.get(key, _MISSING)
    if type(value) is str and min_len <= len(value) <= max_len:
        return value
    if max_len == _UNLIMITED:
        expected = "a string" if min_len == 0 else "a non-empty string"
    else:
        expected = f"a string of {min_len}–{max_len} characters"
    _fail(path, expected, value)


def _optional_string(source: dict, key: str, path: str, *, max_len: int = _UNLIMITED) -> str | None:
    """An optional string; null or "" count as absent."""
    value = source.get(key)
    if type(value) is str and len(value) <= max_len:
        return value or None
    if value is None:
        return None
    if max_len == _UNLIMITED:
        _fail(path, "a string", value)
    _fail(path, f"a string of at most {max_len} characters", value)


def _choice(
    source: dict, key: str, path: str, choices: tuple[str, ...], default: str | None = None
) -> str:
    value = source.get(key, _MISSING)
    if type(value) is str and value in choices:
        return value
    if default is not None and (value is None or value is _MISSING):
        return default
    _fail(path, "one of " + ", ".join(choices), value)


def _optional_choice(source: dict, key: str, path: str, choices: tuple[str, ...]) -> str | None:
    value = source.get(key)
    if value is None or (type(value) is str and value in choices):
        return value
    _fail(path, "one of " + ", ".join(choices), value)


def _count(source: dict, key: str, path: str, default: int | None = None) -> int:
    value = source.get(key, _MISSING)
    if type(value) is int and 0 <= value < _MAX_INT:
        return value
    if default is not None and (value is None or value is _MISSING):
        return default
    _fail(path, "a whole number from 0 to 2^63-1", value)


def _object(source: dict, key: str, path: str) -> dict | None:
    value = source.get(key)
    if value is None or type(value) is dict:
        return value
    _fail(path, "an object", value)


# Type-specific data -----------------------------------------------------------------------


def _run_start_data(data: dict) -> dict:
    return {
        "inputs": data.get("inputs"),
        "environment": _choice(data, "environment", "data.environment", ENVIRONMENTS, "cloud"),
        "runtime": _object(data, "runtime", "data.runtime") or {},
        "config": _config(data),
        "thread_id": _optional_string(data, "thread_id", "data.thread_id", max_len=200),
    }


def _config(data: dict) -> dict:
    """Keep only the declared names: a config must never carry secret values."""
    config = _object(data, "config", "data.config") or {}
    return {
        "required_env": _names(config, "required_env", env=True),
        "oauth": _names(config, "oauth", env=False),
    }


def _names(config: dict, key: str, *, env: bool) -> list[str]:
    names = config.get(key)
    path = f"data.config.{key}"
    if names is None:
        return []
    if type(names) is not list:
        _fail(path, "an array of names", names)
    for position, name in enumerate(names):
        if type(name) is not str or not 0 < len(name) <= 200:
            _fail(f"{path}[{position}]", "a name (a string of 1–200 characters)", name)
        if env and "=" in name:
            # Not echoed: the text after '=' may well be a secret.
            raise EventError(
                f"{path}[{position}]: expected an environment variable name, got a string "
                "containing '='; send names only, never values"
            )
    return names


def _error_info(data: dict) -> dict:
    error = data.get("error", _MISSING)
    if type(error) is not dict:
        _fail("data.error", 'an object like {"type": "KeyError", "message": "..."}', error)
    return {
        "type": _string(error, "type", "data.error.type", max_len=200),
        "message": _string(error, "message", "data.error.message", min_len=0),
        "traceback": _optional_string(error, "traceback", "data.error.traceback"),
    }


def _llm_call_data(data: dict) -> dict:
    """A whole LLM call at once, as an OTLP span or a client that does not stream
    tells it; `ts` is when it ended, `started_at` when it was sent."""
    started_at = data.get("started_at")
    if started_at is not None:
        if type(started_at) is not str:
            _fail("data.started_at", f"an RFC 3339 timestamp like {_EXAMPLE_TS}", started_at)
        try:
            started_at = _format_ts(_parse_rfc3339(started_at))
        except EventError as error:
            raise EventError(f"data.started_at{str(error).removeprefix('ts')}") from None
    output = data.get("output")
    if output is not None and type(output) is not str:
        _fail("data.output", "the answer's text, a string", output)
    return {
        "call_id": _string(data, "call_id", "data.call_id", max_len=128),
        "model": _string(data, "model", "data.model", max_len=200),
        "started_at": started_at,
        "input": data.get("input"),
        "output": output or "",
        "input_tokens": _count(data, "input_tokens", "data.input_tokens", 0),
        "output_tokens": _count(data, "output_tokens", "data.output_tokens", 0),
        "cache_read_tokens": _count(data, "cache_read_tokens", "data.cache_read_tokens", 0),
        "cache_write_tokens": _count(data, "cache_write_tokens", "data.cache_write_tokens", 0),
        "error": _error_info(data) if data.get("error") is not None else None,
        "attributes": _object(data, "attributes", "data.attributes") or {},
    }


def _with_attributes(normalized: dict, data: dict) -> dict:
    """Attributes beyond the protocol's fields (an OTLP span's), kept only when sent."""
    attributes = _object(data, "attributes", "data.attributes")
    if attributes:
        normalized["attributes"] = attributes
    return normalized


def _tool_name(data: dict) -> str:
    return _string(data, "tool_name", "data.tool_name", max_len=200)


def _span_id(data: dict) -> str | None:
    return _optional_string(data, "span_id", "data.span_id", max_len=128)


def _input_str(data: dict) -> str:
    value = data.get("input_str")
    if value is None:
        return ""
    if type(value) is str:
        return value
    return json.dumps(value, ensure_ascii=False)


def _log_level(data: dict) -> str:
    level = data.get("level")
    if level is None:
        return "info"
    if type(level) is str:
        if level in LOG_LEVELS:
            return level
        lowered = level.lower()
        if lowered in LOG_LEVELS:
            return lowered
        if lowered == "warn":
            return "warning"
    _fail("data.level", "one of " + ", ".join(LOG_LEVELS), level)


def _exit_code(data: dict) -> int:
    value = data.get("exit_code", _MISSING)
    if type(value) is int and -(2**31) <= value < 2**31:
        return value
    _fail("data.exit_code", "a whole number (the process's exit status)", value)


def _use_count(data: dict) -> int:
    value = data.get("count", 1)
    if type(value) is int and 0 < value <= 1_000_000_000:
        return value
    _fail("data.count", "a whole number from 1 to 10^9", value)


def _amount(data: dict) -> Decimal:
    value = data.get("amount", _MISSING)
    if type(value) is str and _DECIMAL_TEXT.fullmatch(value):
        dot = value.find(".")
        if dot >= 0 and len(value) - dot - 1 > 6:
            raise EventError(f"data.amount: expected at most 6 decimal places, got {_show(value)}")
        amount = Decimal(value)
        if amount >= _MAX_AMOUNT:
            raise EventError(f"data.amount: expected less than 10^12, got {_show(value)}")
        return amount
    if type(value) is int or type(value) is float:
        raise EventError(
            f'data.amount: expected a decimal string like "12.50", got number {_show(value)}; '
            "send amounts as strings: JSON numbers are read as binary floats and lose cents"
        )
    if type(value) is str and value.startswith("-") and _DECIMAL_TEXT.fullmatch(value[1:]):
        raise EventError(
            f"data.amount: expected an amount of zero or more, got {_show(value)}; "
            "the kind (refund, payout...) says which way the money moves"
        )
    _fail("data.amount", 'a decimal string like "12.50"', value)


def _currency(data: dict) -> str:
    value = data.get("currency", _MISSING)
    if type(value) is str and len(value) == 3 and value.isascii() and value.isalpha():
        code = value.upper()
        if code in MINOR_UNITS:
            return code
        if code in NOT_MONEY:
            raise EventError(
                f"data.currency: {code} is an ISO 4217 code with no minor units (a metal, "
                "fund or test code, not money); send the currency the money moved in"
            )
    _fail("data.currency", 'an ISO 4217 currency code like "USD"', value)


def _money(data: dict) -> dict:
    """The amount and its currency; the amount in the currency's minor units
    ("7" USD → "7.00", "1.00" JPY → "1"), never with more decimals than it has."""
    amount = _amount(data)
    currency = _currency(data)
    units = MINOR_UNITS[currency]
    if decimal_places(amount) > units:
        has = "no minor units" if units == 0 else f"{units} decimal places (ISO 4217 minor units)"
        raise EventError(f"data.amount: {currency} has {has}; got {_show(data['amount'])}")
    return {"amount": str(amount.quantize(quantum(currency))), "currency": currency}


_NORMALIZERS = {
    "run_start": _run_start_data,
    "run_end": lambda data: {
        "outputs": data.get("outputs"),
        "format": _optional_choice(data, "format", "data.format", OUTPUT_FORMATS),
    },
    "error": lambda data: {"error": _error_info(data)},
    "tool_start": lambda data: _with_attributes(
        {
            "tool_name": _tool_name(data),
            "input_str": _input_str(data),
            "span_id": _span_id(data),
        },
        data,
    ),
    "tool_end": lambda data: {
        "tool_name": _tool_name(data),
        "output": data.get("output"),
        "span_id": _span_id(data),
    },
    "tool_error": lambda data: {
        "tool_name": _tool_name(data),
        "error": _error_info(data),
        "span_id": _span_id(data),
    },
    "llm_new_token": lambda data: {
        "token": _string(data, "token", "data.token", min_len=0),
        "model": _optional_string(data, "model", "data.model", max_len=200),
        "call_id": _optional_string(data, "call_id", "data.call_id", max_len=128),
    },
    "llm_call": _llm_call_data,
    "agent_action": lambda data: {
        "tool": _string(data, "tool", "data.tool", max_len=200),
        "tool_input": data.get("tool_input"),
    },
    "status": lambda data: {
        "status": _choice(data, "status", "data.status", RUN_STATUSES),
        "message": _optional_string(data, "message", "data.message"),
        "thread_id": _optional_string(data, "thread_id", "data.thread_id", max_len=200),
        "next_step": _optional_string(data, "next_step", "data.next_step", max_len=10_000),
    },
    "log": lambda data: _with_attributes(
        {
            "message": _string(data, "message", "data.message", min_len=0),
            "level": _log_level(data),
            "stream": _choice(data, "stream", "data.stream", LOG_STREAMS, "stdout"),
            "logger": _optional_string(data, "logger", "data.logger", max_len=200),
        },
        data,
    ),
    "usage": lambda data: {
        "model": _string(data, "model", "data.model", max_len=200),
        "input_tokens": _count(data, "input_tokens", "data.input_tokens"),
        "output_tokens": _count(data, "output_tokens", "data.output_tokens"),
        "cache_read_tokens": _count(data, "cache_read_tokens", "data.cache_read_tokens", 0),
        "cache_write_tokens": _count(data, "cache_write_tokens", "data.cache_write_tokens", 0),
        "call_id": _optional_string(data, "call_id", "data.call_id", max_len=128),
    },
    "revenue": lambda data: {
        "kind": _choice(data, "kind", "data.kind", REVENUE_KINDS),
        **_money(data),
        "customer": _optional_string(data, "customer", "data.customer", max_len=200),
        "external_id": _optional_string(data, "external_id", "data.external_id", max_len=200),
        "refund_of": _optional_string(data, "refund_of", "data.refund_of", max_len=200),
        "metadata": _object(data, "metadata", "data.metadata"),
    },
    "artifact": lambda data: {
        "name": _string(data, "name", "data.name", max_len=500),
        "url": _optional_string(data, "url", "data.url", max_len=4000),
        "mime": _optional_string(data, "mime", "data.mime", max_len=200),
    },
    "tool_usage": lambda data: {
        "tool": _string(data, "tool", "data.tool", max_len=200),
        "count": _use_count(data),
    },
    "state_update": lambda data: {"state": data.get("state")},
    "process_exit": lambda data: {
        "exit_code": _exit_code(data),
        "duration_ms": (
            None
            if data.get("duration_ms") is None
            else _count(data, "duration_ms", "data.duration_ms")
        ),
    },
    "stream_end": lambda data: {"lines": _count(data, "lines", "data.lines", 0)},
}
