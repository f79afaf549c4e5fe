"""Request bodies: size, content type, gzip, and NDJSON, array or envelope by content.

Also Charm's own streams (`runs.protocol.charm`): `text/plain`, a process's stdout or a
container log, and `text/event-stream`, the Cloud Runner's SSE. Protocol v1 event lines
in a stdout stream are taken as they are.
"""

import gc
import hashlib
import json
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import msgspec

from runs.protocol.charm import Carry, Stream, parse_charm_sse, parse_charm_text
from runs.protocol.codec import _as_utc, _utc_now
from runs.protocol.describe import _describe
from runs.protocol.schema import line_event, object_event
from runs.protocol.storable import (
    _check_size,
    _check_storable,
    _has_risky_escapes,
    _is_valid_unicode,
    _needs_deep_check,
)
from runs.protocol.types import (
    MAX_EVENT_BYTES,
    MAX_REQUEST_BYTES,
    BodyError,
    Event,
    EventError,
    ParseResult,
    Rejection,
    _Context,
    _JsonReader,
)

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
_STREAM_TYPES = frozenset({"text/plain", "text/event-stream"})

_ONE_MICROSECOND = timedelta(microseconds=1)
# Compact JSON is at most 4.5 times its source in UTF-8 bytes: 4 bytes per character
# at worst, and a number like 1e15 re-encodes as 1000000000000000.0. Below this many
# source characters an event cannot exceed the limit, so it is not re-encoded to check.
_SIZE_CHECK_ABOVE_CHARS = MAX_EVENT_BYTES * 2 // 9
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_ENVELOPE_START = re.compile(r'\{[ \t\n\r]*"events"[ \t\n\r]*:[ \t\n\r]*(?=\[)')
_BODY_SHAPES = 'send a JSON array, {"events": [...]}, or one event object per line'
_ARRAY_ITEMS = msgspec.json.Decoder(list[msgspec.Raw])


def parse_body(
    body: bytes,
    *,
    content_type: str,
    content_encoding: str | None = None,
    run_id: str | None = None,
    received_at: datetime | None = None,
    stream_offset: int = 0,
    stream_ended: bool = False,
    agent: str | None = None,
    environment: str | None = None,
    carry: Carry | None = None,
) -> ParseResult:
    """Parse an ingest request body into valid events and per-event rejections.

    Accepts NDJSON, a JSON array, `{"events": [...]}` or a single event object (told
    apart by content, so NDJSON sent as application/json still works), and `text/plain`
    stdout and `text/event-stream` SSE, Charm's own streams (`runs.protocol.charm`).
    `run_id` (the X-Charm-Run-Id header) is required for those and fills in events that
    lack a run_id; `stream_offset`, `stream_ended`, `agent` and `environment` are what
    the sender says of the stream; `carry` joins the pieces one sender parses in order.
    `received_at` (default: now) dates stream lines and
    bounds future timestamps. Raises `BodyError` when the request as a whole is unusable.
    """
    if len(body) > MAX_REQUEST_BYTES:
        raise BodyError(
            413, f"request body is {len(body):,} bytes; the limit is {MAX_REQUEST_BYTES:,}"
        )
    media_type = content_type.split(";", 1)[0].strip().lower()
    is_text = media_type in _STREAM_TYPES
    if not is_text and not _is_json_type(media_type):
        raise BodyError(415, _unsupported_type_message(media_type))
    if run_id is not None or is_text:
        _check_header_run_id(run_id)
    _check_no_nul("X-Charm-Agent", agent)
    received_at = _utc_now() if received_at is None else _as_utc(received_at)
    data = _decompress(body, content_encoding)
    ctx = _Context.at(received_at, run_id)
    with _gc_paused():
        if is_text:
            text = data.decode("utf-8", "replace").removeprefix("\ufeff")
            stream = Stream(run_id, received_at, stream_offset, stream_ended, agent, environment)
            if media_type == "text/event-stream":
                return _as_parse_result(parse_charm_sse(text, stream, carry))
            return _parse_text(text, ctx, stream, carry)
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
        raise BodyError(
            400,
            "text/plain and text/event-stream bodies need an X-Charm-Run-Id header naming the run",
        )
    if not 0 < len(run_id) <= 128:
        raise BodyError(400, f"X-Charm-Run-Id: expected 1–128 characters, got {len(run_id):,}")
    _check_no_nul("X-Charm-Run-Id", run_id)


def _check_no_nul(header: str, value: str | None) -> None:
    # Events carry the header's text, and PostgreSQL text cannot hold NUL.
    if value is not None and "\x00" in value:
        raise BodyError(400, f"{header}: contains a NUL character, which cannot be stored")


def _decompress(body: bytes, content_encoding: str | None) -> bytes:
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        return _gunzip(body) if body else body
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
        if not result.rejected:  # every line blank to Python (a form feed...): no events
            return result
        first = result.rejected[0]
        raise BodyError(
            400,
            f"body is not valid NDJSON: no line holds a JSON object (line {first.index}: "
            f"{first.error})",
        )
    if text[start] == "[" and not ctx.bad_utf8:
        result = _parse_array(text, ctx)
        if result is not None:
            return result
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
        return f"{exc.msg.removesuffix(' at')} at {where}"  # 'Invalid control character at'
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


def _parse_array(text: str, ctx: _Context) -> ParseResult | None:
    """A JSON array's items, each taken as an NDJSON line is: split in C, so an item is
    decoded once. None when msgspec cannot read the array (broken, NaN, too deep): the
    element-by-element reader then says what is wrong."""
    try:
        items = _ARRAY_ITEMS.decode(text)
    except (msgspec.DecodeError, RecursionError):
        return None
    result = ParseResult([], [])
    risky_escapes = _has_risky_escapes(text)
    for index, item in enumerate(items):
        if not _take_text(result, index, bytes(item).decode(), ctx, risky_escapes):
            return None  # JSON msgspec read and json cannot (nested too deeply for it)
    return result


def _parse_lines(text: str, ctx: _Context) -> tuple[ParseResult, bool]:
    """Parse NDJSON; also says whether any line held a JSON object at all."""
    result = ParseResult([], [])
    saw_object = False
    risky_escapes = _has_risky_escapes(text)
    for index, line in enumerate(text.split("\n")):
        if not line or line.isspace():
            continue
        if ctx.bad_utf8 and not _is_valid_unicode(line):
            result.rejected.append(Rejection(index, "line is not valid UTF-8"))
            continue
        taken = _take_text(result, index, line, ctx, risky_escapes)
        saw_object = saw_object or taken is dict
    return result, saw_object


def _take_text(
    result: ParseResult, index: int, text: str, ctx: _Context, risky_escapes: bool
) -> type | None:
    """Take the event in one item's JSON text; the type of what it held, None if no JSON."""
    deep = _needs_deep_check(text, 0, len(text), risky_escapes)
    big = len(text) > _SIZE_CHECK_ABOVE_CHARS
    if not (big or deep or ctx.bad_utf8):
        event = line_event(text, ctx)
        if event is not None:
            result.events.append(event)
            return dict
    reader = ctx.reader
    reader.non_finite = False
    try:
        value = reader.decoder.decode(text)
    except (ValueError, RecursionError) as exc:
        problem = _json_problem(exc, with_line=False)
        result.rejected.append(Rejection(index, f"invalid JSON: {problem}"))
        return None
    _take(result, index, value, ctx, reader.non_finite or deep, big)
    return type(value)


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
        result.events.append(object_event(value, ctx, default_event_id, default_ts))
    except EventError as exc:
        result.rejected.append(Rejection(index, str(exc)))


# text/plain: a process's stdout -----------------------------------------------------------


def _parse_text(text: str, ctx: _Context, stream: Stream, carry: Carry | None) -> ParseResult:
    """Charm's stdout; a protocol v1 event line in it is taken as that event."""
    risky_escapes = _has_risky_escapes(text)

    def protocol_line(line: str, index: int, position: int) -> Event | Rejection | None:
        value = _event_line(line, ctx.reader)
        if value is None:
            return None
        taken = ParseResult([], [])
        event_id = None
        if value.get("event_id") is None:
            event_id = _stream_event_id(stream.run_id, position, line)
        deep_check = ctx.reader.non_finite or _needs_deep_check(line, 0, len(line), risky_escapes)
        size_check = len(line) > _SIZE_CHECK_ABOVE_CHARS
        ts = stream.received_at + index * _ONE_MICROSECOND
        _take(taken, index, value, ctx, deep_check, size_check, event_id, ts)
        return taken.events[0] if taken.events else taken.rejected[0]

    return _as_parse_result(parse_charm_text(text, stream, protocol_line, carry))


def _as_parse_result(result) -> ParseResult:
    return ParseResult(result.events, result.rejected, result.noted)


def _event_line(line: str, reader: _JsonReader) -> dict | None:
    """The line's JSON object if it is a protocol v1 event, else None.

    Besides "type" an event line must carry "v", "event_id" or "run_id": agents print
    other JSON too (an API's {"type": "error", ...} reply is not a crash of the run).
    """
    stripped = line.lstrip()
    reader.non_finite = False
    try:
        value = reader.decoder.decode(stripped)
    except (ValueError, RecursionError):
        return None
    if type(value) is not dict:
        return None
    if "type" in value and ("v" in value or "event_id" in value or "run_id" in value):
        return value
    return None


def _stream_event_id(run_id: str, position: int, line: str) -> str:
    digest = hashlib.sha256(f"{run_id}\n{position}\n{line}".encode()).hexdigest()
    return "cs-" + digest[:40]
