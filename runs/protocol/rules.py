"""The protocol's rules a Struct cannot state, each with its own message: the event type
and version, agent on run_start, timestamps, log levels, money and environment names.

The Structs of `runs.protocol.schema` call these from their fields (`Meta(extra=...)`)
and their normalization; each raises `EventError` or returns what a field's message says.
"""

import re
from datetime import UTC, datetime
from decimal import Decimal

from billing.currencies import MINOR_UNITS, NOT_MONEY, decimal_places, quantum
from runs.protocol.codec import _format_ts
from runs.protocol.describe import _describe, _show
from runs.protocol.types import _FUTURE_SLACK, EVENT_TYPES, EventError, _Context

MISSING = object()
_MIN_TS = datetime(2000, 1, 1, tzinfo=UTC)
_MIN_EPOCH = _MIN_TS.timestamp()
_MAX_AMOUNT = Decimal(10**12)
_DECIMAL_TEXT = re.compile(r"[0-9]+(?:\.[0-9]+)?")
EXAMPLE_TS = '"2026-11-25T11:24:41.123456Z"'
RFC3339_EXPECTED = f"an RFC 3339 timestamp like {EXAMPLE_TS}"
TS_EXPECTED = f"{RFC3339_EXPECTED} or Unix epoch seconds"
AGENT_REQUIRED = (
    'agent: required on run_start events; expected an object like {"name": "invoice-bot", '
    '"version": "1.4.0"}'
)


def _type_problem(value: object) -> str:
    valid = ", ".join(EVENT_TYPES)
    if value is MISSING:
        return f"type: required field is missing; valid types are: {valid}"
    if type(value) is str:
        return f"type: unknown event type {value!r}; valid types are: {valid}"
    return f"type: expected a string, got {_describe(value)}; valid types are: {valid}"


def _version_problem(value: object) -> str:
    return f"unsupported protocol version {_show(value)}; this server speaks 1"


# Timestamps -------------------------------------------------------------------------------


def _timestamp(value: str | int | float, ctx: _Context) -> datetime:
    """`ts`: RFC 3339 text or epoch seconds, from 2000 to a day past the server's clock."""
    if type(value) is str:
        ts = _parse_rfc3339(value)
        if _MIN_TS <= ts <= ctx.latest_ts:
            return ts
        raise EventError(_ts_range_problem(ts, ctx))
    if _MIN_EPOCH <= value <= ctx.latest_epoch:
        return datetime.fromtimestamp(value, UTC)
    raise EventError(_epoch_range_problem(value, ctx))


def _parse_rfc3339(text: str, path: str = "ts") -> datetime:
    if (
        len(text) < 19
        or text[4] != "-"
        or text[7] != "-"
        or text[10] not in "Tt "
        or text[13] != ":"
        or text[16] != ":"
    ):
        raise EventError(f"{path}: expected {RFC3339_EXPECTED}, got {_describe(text)}")
    if text[-1] == "z":
        text = text[:-1] + "Z"
    # Python 3.11's fromisoformat reads 'Z' and truncates digits past microseconds.
    try:
        ts = datetime.fromisoformat(text)
    except ValueError as exc:
        reason = "" if str(exc).startswith("Invalid isoformat") else f" ({exc})"
        raise EventError(
            f"{path}: expected {RFC3339_EXPECTED}, got {_describe(text)}{reason}"
        ) from None
    tzinfo = ts.tzinfo
    if tzinfo is UTC:
        return ts
    if tzinfo is None:
        raise EventError(
            f"{path}: {text!r} has no UTC offset; end it with 'Z' or an offset like '+02:00'"
        )
    try:
        return ts.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 with an offset: no such UTC time
        raise EventError(
            f"{path}: {text!r} is outside the years 1 to 9999 in UTC; check the emitter's clock"
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


# Log levels, environment names, money -----------------------------------------------------


def _log_level(level: str | None) -> str:
    """A level the Struct's pattern took, in any case, stored in lower case; `warn` is
    warning, and none is info."""
    if level is None:
        return "info"
    lowered = level.lower()
    return "warning" if lowered == "warn" else lowered


def _env_name_problem(value: object) -> str | None:
    if type(value) is str and 0 < len(value) <= 200 and "=" in value:
        # Not echoed: the text after '=' may well be a secret.
        return (
            "expected an environment variable name, got a string containing '='; "
            "send names only, never values"
        )
    return None


def _amount_problem(value: object) -> str | None:
    if type(value) is int or type(value) is float:
        return (
            f'expected a decimal string like "12.50", got number {_show(value)}; '
            "send amounts as strings: JSON numbers are read as binary floats and lose cents"
        )
    if type(value) is not str:
        return None
    if value.startswith("-") and _DECIMAL_TEXT.fullmatch(value[1:]):
        return (
            f"expected an amount of zero or more, got {_show(value)}; "
            "the kind (refund, payout...) says which way the money moves"
        )
    if _DECIMAL_TEXT.fullmatch(value):
        dot = value.find(".")
        if dot >= 0 and len(value) - dot - 1 > 6:
            return f"expected at most 6 decimal places, got {_show(value)}"
        if Decimal(value) >= _MAX_AMOUNT:
            return f"expected less than 10^12, got {_show(value)}"
    return None


def _currency_problem(value: object) -> str | None:
    if type(value) is str and len(value) == 3 and value.upper() in NOT_MONEY:
        return (
            f"{value.upper()} is an ISO 4217 code with no minor units (a metal, fund or test "
            "code, not money); send the currency the money moved in"
        )
    return None


def _money(amount: str, currency: str) -> dict:
    """The amount in the currency's minor units ("7" USD → "7.00", "1.00" JPY → "1"),
    never with more decimals than it has."""
    code = currency.upper()
    units = MINOR_UNITS[code]
    value = Decimal(amount)
    if decimal_places(value) > units:
        has = "no minor units" if units == 0 else f"{units} decimal places (ISO 4217 minor units)"
        raise EventError(f"data.amount: {code} has {has}; got {_show(amount)}")
    return {"amount": str(value.quantize(quantum(code))), "currency": code}
