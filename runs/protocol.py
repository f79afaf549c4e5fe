"""Event protocol v1: turn an ingest request body into validated `Event`s.

Pure Python, no Django, no database. The ingest view and the `ingest` command call
`parse_body`; the stored batch is written with `dumps_events` and read back by the
worker with `loads_events`. DESIGN.md sections 2 and 3 are the contract.

Beyond the contract, an accepted event is guaranteed storable: no NaN or Infinity,
no NUL character, no unpaired surrogate, nesting at most `MAX_NESTING` deep. Any of
those would make PostgreSQL refuse the whole batch later, in the worker.
"""

import gc
import hashlib
import json
import math
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NoReturn, Self

MAX_EVENT_BYTES = 1024 * 1024
MAX_REQUEST_BYTES = 10 * 1024 * 1024
MAX_NESTING = 64

EVENT_TYPES: tuple[str, ...] = (
    "run_start",
    "run_end",
    "error",
    "tool_start",
    "tool_end",
    "tool_error",
    "llm_new_token",
    "agent_action",
    "status",
    "log",
    "usage",
    "revenue",
)
RUN_STATUSES: tuple[str, ...] = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
    "timed_out",
    "validating",
    "validation_failed",
)
TERMINAL_STATUSES = frozenset(
    {"succeeded", "failed", "cancelled", "timed_out", "validation_failed"}
)
LOG_LEVELS: tuple[str, ...] = ("debug", "info", "warning", "error", "critical")
LOG_STREAMS: tuple[str, ...] = ("stdout", "stderr")
ENVIRONMENTS: tuple[str, ...] = ("local", "cloud", "docker")
REVENUE_KINDS: tuple[str, ...] = ("charge", "refund", "credit", "payout", "subscription")

_NDJSON_TYPES = frozenset(
    {
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonl",
        "application/jsonlines",
        "application/x-jsonlines",
    }
)
_JSON_TYPES = frozenset({"", "application/json", "text/json"})

_MISSING = object()
_UNLIMITED = MAX_EVENT_BYTES
_MAX_INT = 2**63
_MAX_AMOUNT = Decimal(10**12)
_MIN_TS = datetime(2000, 1, 1, tzinfo=UTC)
_MIN_EPOCH = _MIN_TS.timestamp()
_FUTURE_SLACK = timedelta(hours=24)
_ONE_MICROSECOND = timedelta(microseconds=1)
# Compact JSON is at most 4.5 times its source in UTF-8 bytes: 4 bytes per character
# at worst, and a number like 1e15 re-encodes as 1000000000000000.0. Below this many
# source characters an event cannot exceed the limit, so it is not re-encoded to check.
_SIZE_CHECK_ABOVE_CHARS = MAX_EVENT_BYTES * 2 // 9
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_ENVELOPE_START = re.compile(r'\{[ \t\n\r]*"events"[ \t\n\r]*:[ \t\n\r]*(?=\[)')
_DECIMAL_TEXT = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_EXAMPLE_TS = '"2026-11-25T11:24:41.123456Z"'
_BODY_SHAPES = 'send a JSON array, {"events": [...]}, or one event object per line'


@dataclass(frozen=True, slots=True)
class Event:
    """One validated event; `data` holds the normalized type-specific fields."""

    event_id: str
    run_id: str
    type: str
    ts: datetime
    seq: int | None
    agent_name: str | None
    agent_version: str | None
    data: dict


@dataclass(frozen=True, slots=True)
class Rejection:
    """An event refused by itself: `index` is its line (NDJSON, text) or array index."""

    index: int
    error: str


@dataclass
class ParseResult:
    events: list[Event]
    rejected: list[Rejection]


class BodyError(Exception):
    """The request as a whole is refused (HTTP `status` 400, 413 or 415)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class EventError(ValueError):
    """One event is invalid; the message names the field and what was wrong."""


class _JsonReader:
    """A JSON decoder that notes non-finite numbers (NaN, Infinity, 1e999) it lets through."""

    __slots__ = ("decoder", "non_finite")

    def __init__(self) -> None:
        self.non_finite = False
        self.decoder = json.JSONDecoder(parse_float=self._float, parse_constant=self._constant)

    def _float(self, text: str) -> float:
        value = float(text)
        if value - value != 0.0:
            self.non_finite = True
        return value

    def _constant(self, text: str) -> float:
        self.non_finite = True
        return float(text)


@dataclass(slots=True)
class _Context:
    latest_ts: datetime
    latest_epoch: float
    default_run_id: str | None
    reader: _JsonReader
    bad_utf8: str | None = None

    @classmethod
    def at(cls, now: datetime, default_run_id: str | None = None) -> Self:
        latest = now + _FUTURE_SLACK
        return cls(latest, latest.timestamp(), default_run_id, _JsonReader())


# Body: size, encoding, format ------------------------------------------------------------


def parse_body(
    body: bytes,
    *,
    content_type: str,
    content_encoding: str | None = None,
    run_id: str | None = None,
    received_at: datetime | None = None,
) -> ParseResult:
    """Parse an ingest request body into valid events and per-event rejections.

    Accepts NDJSON, a JSON array, `{"events": [...]}` or a single event object (told
    apart by content, so NDJSON sent as application/json still works), and `text/plain`
    stdout where non-event lines become `log` events. `run_id` (the X-Charm-Run-Id
    header) is required for text/plain and fills in events that lack a run_id.
    `received_at` (default: now) dates stdout lines and bounds future timestamps.
    Raises `BodyError` when the request as a whole is unusable.
    """
    if len(body) > MAX_REQUEST_BYTES:
        raise BodyError(
            413, f"request body is {len(body):,} bytes; the limit is {MAX_REQUEST_BYTES:,}"
        )
    media_type = content_type.split(";", 1)[0].strip().lower()
    is_text = media_type == "text/plain"
    if not is_text and not _is_json_type(media_type):
        raise BodyError(415, _unsupported_type_message(media_type))
    if run_id is not None or is_text:
        _check_header_run_id(run_id)
    received_at = _utc_now() if received_at is None else _as_utc(received_at)
    data = _decompress(body, content_encoding)
    ctx = _Context.at(received_at, run_id)
    with _gc_paused():
        if is_text:
            text = data.decode("utf-8", "replace").removeprefix("\ufeff")
            return _parse_text(text, ctx, run_id, received_at)
        text = _decode_utf8(data, ctx)
        return _parse_json_text(text, ctx, prefer_lines=media_type in _NDJSON_TYPES)


@contextmanager
def _gc_paused() -> Iterator[None]:
    # Parsing allocates many objects that all survive (they are the result), so the cyclic
    # GC would walk them over and over: a third of the parse time. Parsing makes no cycles.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _is_json_type(media_type: str) -> bool:
    return media_type in _NDJSON_TYPES or media_type in _JSON_TYPES or media_type.endswith("+json")


def _unsupported_type_message(media_type: str) -> str:
    message = (
        f"unsupported Content-Type {media_type!r}; "
        "send application/x-ndjson, application/json or text/plain"
    )
    if media_type == "application/x-www-form-urlencoded":
        message += " (curl -d sends form data: use --data-binary and set the Content-Type)"
    return message


def _check_header_run_id(run_id: str | None) -> None:
    if run_id is None:
        raise BodyError(400, "text/plain bodies need an X-Charm-Run-Id header naming the run")
    if not 0 < len(run_id) <= 128:
        raise BodyError(400, f"X-Charm-Run-Id: expected 1–128 characters, got {len(run_id):,}")


def _decompress(body: bytes, content_encoding: str | None) -> bytes:
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity") or not body:
        return body
    if encoding in ("gzip", "x-gzip"):
        return _gunzip(body)
    raise BodyError(415, f"unsupported Content-Encoding {encoding!r}; send gzip or no encoding")


def _gunzip(body: bytes) -> bytes:
    """Decompress gzip (several members allowed), stopping past MAX_REQUEST_BYTES."""
    if not body.startswith(b"\x1f\x8b"):
        raise BodyError(400, "body is not valid gzip: it does not start with the gzip header")
    out = bytearray()
    remaining = body
    try:
        while remaining:
            decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            out += decompressor.decompress(remaining, MAX_REQUEST_BYTES + 1 - len(out))
            if len(out) > MAX_REQUEST_BYTES:
                raise BodyError(
                    413,
                    f"body is over {MAX_REQUEST_BYTES:,} bytes after gzip decompression; "
                    "send smaller batches",
                )
            if not decompressor.eof:
                raise BodyError(400, "body is not valid gzip: the data ends early (truncated)")
            remaining = decompressor.unused_data.lstrip(b"\x00")  # gzip tools may pad with NULs
    except zlib.error as exc:
        raise BodyError(400, f"body is not valid gzip: {exc}") from None
    return bytes(out)


def _decode_utf8(data: bytes, ctx: _Context) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Keep going: in NDJSON only the lines holding the bad bytes are rejected.
        ctx.bad_utf8 = f"byte 0x{data[exc.start]:02x} at offset {exc.start:,} is not valid UTF-8"
        text = data.decode("utf-8", "surrogateescape")
    return text.removeprefix("\ufeff")


def _parse_json_text(text: str, ctx: _Context, *, prefer_lines: bool) -> ParseResult:
    """Tell NDJSON from one JSON document by content; the content type breaks ties."""
    start = _skip_whitespace(text, 0)
    if start == len(text):
        return ParseResult([], [])
    if prefer_lines and text[start] != "[" and not _ENVELOPE_START.match(text, start):
        result, saw_object = _parse_lines(text, ctx)
        if saw_object:
            return result
        items, _ = _read_document(text, start, ctx)  # a pretty-printed document, mislabeled
        if items is not None:
            return _take_items(items, text, ctx)
        first = result.rejected[0]
        raise BodyError(
            400,
            f"body is not valid NDJSON: no line holds a JSON object (line {first.index}: "
            f"{first.error})",
        )
    items, problem = _read_document(text, start, ctx)
    if items is not None:
        return _take_items(items, text, ctx)
    result, saw_object = _parse_lines(text, ctx)
    if saw_object:
        return result
    if problem is None:
        first = result.rejected[0]
        raise BodyError(
            400, f"body holds no event object (line {first.index}: {first.error}); {_BODY_SHAPES}"
        )
    raise BodyError(400, f"body is not valid JSON: {problem}; {_BODY_SHAPES}")


def _skip_whitespace(text: str, pos: int) -> int:
    return _WHITESPACE.match(text, pos).end()


# An item is (decoded value, start, end of its source text, whether it held NaN/Infinity).
_Item = tuple[object, int, int, bool]


def _read_document(text: str, start: int, ctx: _Context) -> tuple[list[_Item] | None, str | None]:
    """Read `text` as one JSON document holding events.

    Returns (items, None) for an array, an envelope or one event object; (None, None)
    when the first value is followed by more (NDJSON); (None, reason) when it is broken.
    """
    envelope = _ENVELOPE_START.match(text, start)
    array_start = envelope.end() if envelope else start
    try:
        if text[array_start] == "[":
            items, end = _read_array(text, array_start, ctx.reader)
            if envelope:
                end = _skip_whitespace(text, end)
                if not text.startswith("}", end):
                    return _read_value(text, start, ctx)  # the envelope has more keys
                end += 1
        else:
            return _read_value(text, start, ctx)
    except (ValueError, RecursionError) as exc:
        return None, _json_problem(exc, with_line=True)
    if _skip_whitespace(text, end) != len(text):
        return None, None
    if ctx.bad_utf8:
        raise BodyError(400, f"body is not valid UTF-8: {ctx.bad_utf8}")
    return items, None


def _read_value(text: str, start: int, ctx: _Context) -> tuple[list[_Item] | None, str | None]:
    reader = ctx.reader
    reader.non_finite = False
    try:
        value, end = reader.decoder.raw_decode(text, start)
    except (ValueError, RecursionError) as exc:
        return None, _json_problem(exc, with_line=True)
    if _skip_whitespace(text, end) != len(text):
        return None, None
    if ctx.bad_utf8:
        raise BodyError(400, f"body is not valid UTF-8: {ctx.bad_utf8}")
    if type(value) is not dict:
        raise BodyError(400, f"body holds {_describe(value)}; {_BODY_SHAPES}")
    if "events" in value and "type" not in value:
        events = value["events"]
        if type(events) is not list:
            raise BodyError(
                400, f"events: expected an array of event objects, got {_describe(events)}"
            )
        return [(item, start, end, reader.non_finite) for item in events], None
    return [(value, start, end, reader.non_finite)], None


def _read_array(text: str, start: int, reader: _JsonReader) -> tuple[list[_Item], int]:
    """Decode the array at `start` element by element, keeping each element's span."""
    items: list[_Item] = []
    pos = _skip_whitespace(text, start + 1)
    if text.startswith("]", pos):
        return items, pos + 1
    raw_decode = reader.decoder.raw_decode
    while True:
        reader.non_finite = False
        value, end = raw_decode(text, pos)
        items.append((value, pos, end, reader.non_finite))
        pos = _skip_whitespace(text, end)
        if text.startswith(",", pos):
            pos = _skip_whitespace(text, pos + 1)
        elif text.startswith("]", pos):
            return items, pos + 1
        else:
            raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)


def _json_problem(exc: Exception, *, with_line: bool) -> str:
    if isinstance(exc, json.JSONDecodeError):
        where = f"line {exc.lineno} column {exc.colno}" if with_line else f"column {exc.colno}"
        return f"{exc.msg} at {where}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return "a number has too many digits"  # int() refuses over 4,300 digits


def _take_items(items: list[_Item], text: str, ctx: _Context) -> ParseResult:
    result = ParseResult([], [])
    risky_escapes = _has_risky_escapes(text)
    for index, (value, start, end, non_finite) in enumerate(items):
        deep_check = non_finite or _needs_deep_check(text, start, end, risky_escapes)
        _take(result, index, value, ctx, deep_check, end - start > _SIZE_CHECK_ABOVE_CHARS)
    return result


def _parse_lines(text: str, ctx: _Context) -> tuple[ParseResult, bool]:
    """Parse NDJSON; also says whether any line held a JSON object at all."""
    result = ParseResult([], [])
    saw_object = False
    reader = ctx.reader
    decode = reader.decoder.decode
    risky_escapes = _has_risky_escapes(text)
    for index, line in enumerate(text.split("\n")):
        if not line or line.isspace():
            continue
        if ctx.bad_utf8 and not _is_valid_unicode(line):
            result.rejected.append(Rejection(index, "line is not valid UTF-8"))
            continue
        reader.non_finite = False
        try:
            value = decode(line)
        except (ValueError, RecursionError) as exc:
            problem = _json_problem(exc, with_line=False)
            result.rejected.append(Rejection(index, f"invalid JSON: {problem}"))
            continue
        saw_object = saw_object or type(value) is dict
        deep_check = reader.non_finite or _needs_deep_check(line, 0, len(line), risky_escapes)
        _take(result, index, value, ctx, deep_check, len(line) > _SIZE_CHECK_ABOVE_CHARS)
    return result, saw_object


def _take(
    result: ParseResult,
    index: int,
    value: object,
    ctx: _Context,
    deep_check: bool,
    size_check: bool,
    default_event_id: str | None = None,
    default_ts: datetime | None = None,
) -> None:
    try:
        if deep_check:
            _check_storable(value)
        if size_check:
            _check_size(value)
        result.events.append(_event(value, ctx, default_event_id, default_ts))
    except EventError as exc:
        result.rejected.append(Rejection(index, str(exc)))


def _is_valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# text/plain: a process's stdout -----------------------------------------------------------


def _parse_text(text: str, ctx: _Context, run_id: str, received_at: datetime) -> ParseResult:
    """Event lines are taken as events; every other non-blank line becomes a `log` event."""
    result = ParseResult([], [])
    stamp = received_at.isoformat()
    risky_escapes = _has_risky_escapes(text)
    for index, raw_line in enumerate(text.split("\n")):
        line = raw_line.rstrip("\r\n")
        if not line or line.isspace():
            continue
        if len(line) * 4 > MAX_EVENT_BYTES and (size := len(line.encode())) > MAX_EVENT_BYTES:
            result.rejected.append(
                Rejection(index, f"line is {size:,} bytes; the limit is {MAX_EVENT_BYTES:,}")
            )
            continue
        ts = received_at + index * _ONE_MICROSECOND
        value = _event_line(line, ctx.reader)
        if value is None:
            event_id = _stdout_event_id(run_id, stamp, index, line)
            result.events.append(_log_line_event(line, event_id, run_id, ts))
            continue
        event_id = None
        if value.get("event_id") is None:
            event_id = _stdout_event_id(run_id, stamp, index, line)
        deep_check = ctx.reader.non_finite or _needs_deep_check(line, 0, len(line), risky_escapes)
        size_check = len(line) > _SIZE_CHECK_ABOVE_CHARS
        _take(result, index, value, ctx, deep_check, size_check, event_id, ts)
    return result


def _event_line(line: str, reader: _JsonReader) -> dict | None:
    """The line's JSON object if it is an event, else None (it is plain output).

    Besides "type" an event line must carry "v", "event_id" or "run_id": agents print
    other JSON too (an API's {"type": "error", ...} reply is not a crash of the run).
    """
    stripped = line.lstrip()
    if not stripped.startswith("{"):
        return None
    reader.non_finite = False
    try:
        value = reader.decoder.decode(stripped)
    except (ValueError, RecursionError):
        return None
    if "type" in value and ("v" in value or "event_id" in value or "run_id" in value):
        return value
    return None


def _stdout_event_id(run_id: str, stamp: str, index: int, line: str) -> str:
    digest = hashlib.sha256(f"{run_id}\n{stamp}\n{index}\n{line}".encode()).hexdigest()
    return "stdout-" + digest[:32]


def _log_line_event(line: str, event_id: str, run_id: str, ts: datetime) -> Event:
    message = line.replace("\x00", "\ufffd")  # PostgreSQL text cannot hold NUL
    data = {"message": message, "level": "info", "stream": "stdout", "logger": None}
    return Event(event_id, run_id, "log", ts, None, None, None, data)


# One event --------------------------------------------------------------------------------


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
    return ts.astimezone(UTC)


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


def _describe(value: object) -> str:
    """How a found value reads in an error message: its JSON type, and the value if short."""
    if value is None:
        return "null"
    if value is True or value is False:
        return f"boolean {_show(value)}"
    if type(value) is int or type(value) is float:
        return f"number {_show(value)}"
    if isinstance(value, str):
        if not value:
            return "an empty string"
        if len(value) <= 40:
            return f"string {_show(value)}"
        return f'string {_show(value[:40])[:-1]}…" ({len(value):,} characters)'
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _show(value: object) -> str:
    """`value` as JSON text when it can be, for error messages."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


# Type-specific data -----------------------------------------------------------------------


def _run_start_data(data: dict) -> dict:
    return {
        "inputs": data.get("inputs"),
        "environment": _choice(data, "environment", "data.environment", ENVIRONMENTS, "cloud"),
        "runtime": _object(data, "runtime", "data.runtime") or {},
        "config": _config(data),
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


def _amount(data: dict) -> str:
    value = data.get("amount", _MISSING)
    if type(value) is str and _DECIMAL_TEXT.fullmatch(value):
        dot = value.find(".")
        if dot >= 0 and len(value) - dot - 1 > 6:
            raise EventError(f"data.amount: expected at most 6 decimal places, got {_show(value)}")
        amount = Decimal(value)
        if amount >= _MAX_AMOUNT:
            raise EventError(f"data.amount: expected less than 10^12, got {_show(value)}")
        return str(amount)
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
        return value.upper()
    _fail("data.currency", 'a 3-letter ISO 4217 code like "USD"', value)


_NORMALIZERS = {
    "run_start": _run_start_data,
    "run_end": lambda data: {"outputs": data.get("outputs")},
    "error": lambda data: {"error": _error_info(data)},
    "tool_start": lambda data: {
        "tool_name": _tool_name(data),
        "input_str": _input_str(data),
        "span_id": _span_id(data),
    },
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
    "agent_action": lambda data: {
        "tool": _string(data, "tool", "data.tool", max_len=200),
        "tool_input": data.get("tool_input"),
    },
    "status": lambda data: {
        "status": _choice(data, "status", "data.status", RUN_STATUSES),
        "message": _optional_string(data, "message", "data.message"),
    },
    "log": lambda data: {
        "message": _string(data, "message", "data.message", min_len=0),
        "level": _log_level(data),
        "stream": _choice(data, "stream", "data.stream", LOG_STREAMS, "stdout"),
        "logger": _optional_string(data, "logger", "data.logger", max_len=200),
    },
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
        "amount": _amount(data),
        "currency": _currency(data),
        "customer": _optional_string(data, "customer", "data.customer", max_len=200),
        "external_id": _optional_string(data, "external_id", "data.external_id", max_len=200),
        "refund_of": _optional_string(data, "refund_of", "data.refund_of", max_len=200),
        "metadata": _object(data, "metadata", "data.metadata"),
    },
}


# Storable and size checks ------------------------------------------------------------------


def _has_risky_escapes(text: str) -> bool:
    return "\\u0000" in text or "\\ud" in text or "\\uD" in text


def _needs_deep_check(text: str, start: int, end: int, risky_escapes: bool) -> bool:
    """Whether the source text could hide something unstorable; cheap, may say yes wrongly."""
    if text.count("{", start, end) + text.count("[", start, end) > MAX_NESTING:
        return True
    return risky_escapes and (
        text.find("\\u0000", start, end) >= 0
        or text.find("\\ud", start, end) >= 0
        or text.find("\\uD", start, end) >= 0
    )


def _check_storable(value: object) -> None:
    problem = _unstorable(value, "", 0)
    if problem:
        raise EventError(problem)


def _unstorable(value: object, path: str, depth: int) -> str | None:
    """The first part of `value` that JSON or PostgreSQL cannot hold, described; or None."""
    kind = type(value)
    if kind is str:
        return _unstorable_string(value, path)
    if kind is dict or kind is list:
        if depth > MAX_NESTING:
            return f"{path or 'event'}: nested more than {MAX_NESTING} levels deep"
        if kind is list:
            for position, item in enumerate(value):
                problem = _unstorable(item, f"{path}[{position}]", depth + 1)
                if problem:
                    return problem
            return None
        for key, item in value.items():
            item_path = f"{path}.{key}" if path else str(key)
            if type(key) is not str:
                return f"{item_path}: object keys must be strings, got {type(key).__name__}"
            problem = _unstorable_string(key, item_path + " (key)") or _unstorable(
                item, item_path, depth + 1
            )
            if problem:
                return problem
        return None
    if kind is float:
        if math.isfinite(value):
            return None
        return f"{path or 'event'}: expected a finite number, got {_show(value)}"
    if kind is int or kind is bool or value is None:
        return None
    return f"{path or 'event'}: expected a JSON value, got {kind.__name__}"


def _unstorable_string(text: str, path: str) -> str | None:
    if "\x00" in text:
        return f"{path}: string contains a NUL character (\\u0000), which cannot be stored"
    if not _is_valid_unicode(text):
        return f"{path}: string contains an unpaired UTF-16 surrogate, which is not valid Unicode"
    return None


def _check_size(value: object) -> None:
    size = len(_COMPACT.encode(value).encode())
    if size > MAX_EVENT_BYTES:
        raise EventError(f"event is {size:,} bytes; the limit is {MAX_EVENT_BYTES:,}")


# Storage format -----------------------------------------------------------------------------


def event_to_dict(event: Event) -> dict:
    """The event as protocol v1 JSON, ts as RFC 3339 UTC with microseconds."""
    out: dict = {"v": 1, "event_id": event.event_id, "run_id": event.run_id}
    if event.seq is not None:
        out["seq"] = event.seq
    out["ts"] = _format_ts(event.ts)
    out["type"] = event.type
    if event.agent_name is not None:
        agent = {"name": event.agent_name}
        if event.agent_version is not None:
            agent["version"] = event.agent_version
        out["agent"] = agent
    out["data"] = event.data
    return out


def event_from_dict(d: dict) -> Event:
    """The inverse of `event_to_dict`, for trusted stored data: no validation."""
    agent = d.get("agent")
    return Event(
        d["event_id"],
        d["run_id"],
        d["type"],
        datetime.fromisoformat(d["ts"]),
        d.get("seq"),
        agent["name"] if agent else None,
        agent.get("version") if agent else None,
        d["data"],
    )


def dumps_events(events: list[Event]) -> str:
    """A compact JSON array of the events, for storing a batch."""
    return _COMPACT.encode([event_to_dict(event) for event in events])


def loads_events(text: str) -> list[Event]:
    """Events stored by `dumps_events`."""
    return [event_from_dict(d) for d in json.loads(text)]


def _format_ts(ts: datetime) -> str:
    if ts.tzinfo is not UTC:
        ts = ts.astimezone(UTC)
    return ts.isoformat(timespec="microseconds")[:-6] + "Z"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    return moment.astimezone(UTC)
