"""OTLP/HTTP trace export requests, protobuf or JSON, decoded into plain `Span`s.

Protobuf is decoded by `opentelemetry-proto` (the upb C runtime), never by hand. OTLP
JSON is not protobuf's JSON mapping: trace and span ids are hex, not base64, so it is
read with `json` and the field names of the OTLP spec (lowerCamelCase, and snake_case,
which receivers must also accept). Values come out as JSON-storable Python: a NUL
character becomes U+FFFD, NaN and infinities become their names, bytes become base64.

Pure: no Django, no database. `runs.protocol.otlp_map` turns spans into events.
"""

import base64
import json
import math
import re
from dataclasses import dataclass

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from runs.protocol.types import MAX_NESTING, BodyError

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
CONTENT_TYPES = (PROTOBUF, JSON)
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2
SPAN_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_KIND_NAMES = {f"SPAN_KIND_{name.upper()}": n for n, name in enumerate(SPAN_KINDS)}


@dataclass(slots=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: dict


@dataclass(slots=True)
class Span:
    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_span_id: str  # "" for a root span
    name: str
    kind: int
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str
    attributes: dict
    events: list[SpanEvent]
    resource: dict  # the resource's attributes, shared by the spans of one resource
    scope: str  # the instrumentation scope's name
    problem: str = ""  # why the span cannot be taken, if it cannot
    # Protobuf bytes of the span and its resource, which hold every text its events
    # can carry; 0 when not known (OTLP JSON).
    source_bytes: int = 0

    @property
    def where(self) -> str:
        return f"span {self.span_id or '?'} ({self.name[:80]!r}) of trace {self.trace_id or '?'}"


def decode_request(body: bytes, media_type: str) -> list[Span]:
    """The spans of one ExportTraceServiceRequest. Raises `BodyError` (400) when the
    body is not one; a span that is itself wrong comes back with its `problem` set."""
    if media_type == PROTOBUF:
        return _from_protobuf(body)
    return _from_json(body)


# --- protobuf ---------------------------------------------------------------------


def _from_protobuf(body: bytes) -> list[Span]:
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except DecodeError as error:
        raise BodyError(
            400, f"body is not an OTLP ExportTraceServiceRequest in protobuf: {error}"
        ) from None
    spans = []
    for r, resource_spans in enumerate(request.resource_spans):
        try:
            resource, problem = _pb_attributes(resource_spans.resource.attributes), ""
        except _TooDeep as error:
            resource, problem = {}, f"resource_spans[{r}].resource: {error}"
        resource_bytes = resource_spans.resource.ByteSize()
        for scope_spans in resource_spans.scope_spans:
            scope = _text(scope_spans.scope.name)
            for span in scope_spans.spans:
                decoded = _pb_span(span, resource, scope)
                decoded.problem = problem or decoded.problem
                decoded.source_bytes = span.ByteSize() + resource_bytes
                spans.append(decoded)
    return spans


def _pb_span(span, resource: dict, scope: str) -> Span:
    decoded = Span(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex(),
        name=_text(span.name),
        kind=span.kind,
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        status_code=span.status.code,
        status_message=_text(span.status.message),
        attributes={},
        events=[],
        resource=resource,
        scope=scope,
    )
    try:
        decoded.attributes = _pb_attributes(span.attributes)
        decoded.events = [
            SpanEvent(_text(e.name), e.time_unix_nano, _pb_attributes(e.attributes))
            for e in span.events
        ]
    except _TooDeep as error:
        decoded.problem = f"{decoded.where}: {error}"
    decoded.problem = decoded.problem or _span_problem(decoded)
    return decoded


class _TooDeep(ValueError):
    pass


def _pb_attributes(pairs, depth: int = 0) -> dict:
    out = {}
    for kv in pairs:  # the common case inline: a span holds thousands of these
        key, value = kv.key, kv.value
        if "\x00" in key:
            key = _text(key)
        if value.HasField("string_value"):
            text = value.string_value
            out[key] = _text(text) if "\x00" in text else text
        else:
            out[key] = _pb_value(value, depth)
    return out


def _pb_value(value, depth: int):
    which = value.WhichOneof("value")
    if which == "string_value":
        return _text(value.string_value)
    if which == "int_value" or which == "bool_value":
        return getattr(value, which)
    if which == "double_value":
        return _number(value.double_value)
    if depth >= MAX_NESTING:
        raise _TooDeep(f"attribute values nested more than {MAX_NESTING} levels deep")
    if which == "array_value":
        return [_pb_value(item, depth + 1) for item in value.array_value.values]
    if which == "kvlist_value":
        return _pb_attributes(value.kvlist_value.values, depth + 1)
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


# --- JSON -------------------------------------------------------------------------


def _from_json(body: bytes) -> list[Span]:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise BodyError(400, f"body is not OTLP JSON: {error}") from None
    except RecursionError:
        raise BodyError(400, "body is not OTLP JSON: nested too deeply") from None
    if not isinstance(document, dict):
        raise BodyError(400, 'body is not OTLP JSON: expected an object like {"resourceSpans": []}')
    if _SURROGATE_ESCAPE.search(body):
        document = _without_lone_surrogates(document)
    spans = []
    for r, resource_spans in enumerate(_list(document, "resourceSpans", "resource_spans", "")):
        where = f"resourceSpans[{r}]"
        resource_obj = _object(resource_spans, where, "resource")
        try:
            resource = _json_attributes(resource_obj.get("attributes"), f"{where}.resource")
            problem = ""
        except ValueError as error:  # _TooDeep too
            resource, problem = {}, str(error)
        for s, scope_spans in enumerate(_list(resource_spans, "scopeSpans", "scope_spans", where)):
            scope_where = f"{where}.scopeSpans[{s}]"
            scope = _text(str(_object(scope_spans, scope_where, "scope").get("name") or ""))
            for n, span in enumerate(_list(scope_spans, "spans", "spans", scope_where)):
                decoded = _json_span(span, resource, scope, f"{scope_where}.spans[{n}]")
                decoded.problem = problem or decoded.problem
                spans.append(decoded)
    return spans


# A \uD800-\uDFFF escape: json.loads keeps one without its pair as a lone surrogate,
# which no UTF-8 text (nor PostgreSQL) can hold.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _without_lone_surrogates(document: dict) -> dict:
    """The document with each lone surrogate replaced by U+FFFD, pairs kept."""
    text = json.dumps(document, ensure_ascii=False)
    return json.loads(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"))


def _json_span(obj: object, resource: dict, scope: str, where: str) -> Span:
    span = Span("", "", "", "", 0, 0, 0, 0, "", {}, [], resource, scope)
    if not isinstance(obj, dict):
        span.problem = f"{where}: expected a span object"
        return span
    try:
        span.trace_id = _hex_id(_field(obj, "traceId", "trace_id"), 16, f"{where}.traceId")
        span.span_id = _hex_id(_field(obj, "spanId", "span_id"), 8, f"{where}.spanId")
        parent = _field(obj, "parentSpanId", "parent_span_id")
        span.parent_span_id = _hex_id(parent, 8, f"{where}.parentSpanId") if parent else ""
        span.name = _text(str(obj.get("name") or ""))
        span.kind = _enum(_field(obj, "kind", "kind"), _KIND_NAMES, f"{where}.kind")
        span.start_ns = _nanos(_field(obj, "startTimeUnixNano", "start_time_unix_nano"), where)
        span.end_ns = _nanos(_field(obj, "endTimeUnixNano", "end_time_unix_nano"), where)
        status = obj.get("status") or {}
        if not isinstance(status, dict):
            raise ValueError(f"{where}.status: expected an object")
        span.status_code = _enum(status.get("code"), _STATUS_NAMES, f"{where}.status.code")
        span.status_message = _text(str(status.get("message") or ""))
        span.attributes = _json_attributes(obj.get("attributes"), where)
        events = obj.get("events") or []
        if not isinstance(events, list):
            raise ValueError(f"{where}.events: expected an array of span events")
        span.events = [
            SpanEvent(
                _text(str(e.get("name") or "")),
                _nanos(_field(e, "timeUnixNano", "time_unix_nano"), f"{where}.events[{i}]"),
                _json_attributes(e.get("attributes"), f"{where}.events[{i}]"),
            )
            for i, e in enumerate(events)
            if isinstance(e, dict)
        ]
    except (ValueError, _TooDeep) as error:
        span.problem = str(error)
        return span
    span.problem = _span_problem(span)
    return span


def _field(obj: dict, camel: str, snake: str):
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _list(obj: object, camel: str, snake: str, where: str) -> list:
    value = _field(obj, camel, snake) if isinstance(obj, dict) else None
    if value is None:
        return []
    if not isinstance(value, list):
        raise BodyError(400, f"body is not OTLP JSON: {where}.{camel} is not an array".lstrip("."))
    return value


def _object(obj: object, where: str, key: str) -> dict:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}


def _hex_id(value: object, size: int, where: str) -> str:
    if not isinstance(value, str) or len(value) != size * 2:
        raise ValueError(f"{where}: expected {size * 2} hex digits, got {str(value)[:40]!r}")
    try:
        return bytes.fromhex(value).hex()
    except ValueError:
        raise ValueError(f"{where}: expected {size * 2} hex digits, got {value[:40]!r}") from None


def _nanos(value: object, where: str) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64:
        return value  # a fixed64, as in the protobuf
    if value is None:
        return 0
    raise ValueError(f"{where}: expected a time in Unix nanoseconds, got {str(value)[:40]!r}")


def _enum(value: object, names: dict[str, int], where: str) -> int:
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value in names:
        return names[value]
    raise ValueError(f"{where}: expected one of {', '.join(names)}, got {str(value)[:40]!r}")


def _json_attributes(pairs: object, where: str, depth: int = 0) -> dict:
    if pairs is None:
        return {}
    if not isinstance(pairs, list):
        raise ValueError(f"{where}.attributes: expected an array of {{key, value}}")
    out = {}
    for pair in pairs:
        if isinstance(pair, dict) and isinstance(pair.get("key"), str):
            key = _text(pair["key"])
            out[key] = _json_value(pair.get("value"), depth, f"{where}.attributes[{key[:40]!r}]")
    return out


def _json_value(value: object, depth: int, where: str):
    if not isinstance(value, dict):
        return None
    for name, found in _JSON_VALUE_KINDS:
        if name in value:
            raw, kind = value[name], found
            break
    else:
        return None
    if kind == "string":
        return _text(str(raw))
    if kind == "bool":
        return bool(raw)
    if kind == "int" or kind == "double":
        return _json_number(raw, kind, where)
    if depth >= MAX_NESTING:
        raise _TooDeep(f"{where}: attribute values nested more than {MAX_NESTING} levels deep")
    if kind in ("array", "kvlist"):
        items = raw.get("values") if isinstance(raw, dict) else raw
        if isinstance(raw, list) or (items is not None and not isinstance(items, list)):
            raise ValueError(f'{where}: {kind}Value: expected {{"values": [...]}}')
        if kind == "kvlist":
            return _json_attributes(items, f"{where}.kvlistValue", depth + 1)
        return [_json_value(item, depth + 1, f"{where}[{n}]") for n, item in enumerate(items or [])]
    return str(raw)  # bytes: already base64 in OTLP JSON


def _json_number(raw: object, kind: str, where: str):
    """An intValue (a string in OTLP JSON) or a doubleValue; None when of another type."""
    try:
        if kind == "int":
            digits = str(raw).removeprefix("-")
            if isinstance(raw, int | str) and digits.isascii() and digits.isdigit():
                return int(raw)
            return None
        return _number(float(raw)) if isinstance(raw, int | float | str) else None
    except (ValueError, OverflowError):  # 'abc', over 4,300 digits, an int past a double
        raise ValueError(
            f"{where}: {kind}Value: expected a number, got {str(raw)[:40]!r}"
        ) from None


_JSON_VALUE_KINDS = (
    ("stringValue", "string"), ("string_value", "string"), ("boolValue", "bool"),
    ("bool_value", "bool"), ("intValue", "int"), ("int_value", "int"),
    ("doubleValue", "double"), ("double_value", "double"), ("arrayValue", "array"),
    ("array_value", "array"), ("kvlistValue", "kvlist"), ("kvlist_value", "kvlist"),
    ("bytesValue", "bytes"), ("bytes_value", "bytes"),
)  # fmt: skip


# --- both -------------------------------------------------------------------------


def _text(text: str) -> str:
    # PostgreSQL's jsonb cannot hold NUL; the rest of the string is kept.
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _number(value: float):
    return value if math.isfinite(value) else str(value)


def _span_problem(span: Span) -> str:
    if len(span.trace_id) != 32 or span.trace_id == "0" * 32:
        return f"span {span.span_id or '?'}: trace_id must be 16 bytes, not all zero"
    if len(span.span_id) != 16 or span.span_id == "0" * 16:
        return f"span of trace {span.trace_id}: span_id must be 8 bytes, not all zero"
    if span.parent_span_id and len(span.parent_span_id) != 16:
        return f"{span.where}: parent_span_id must be 8 bytes or empty"
    if span.start_ns <= 0 or span.end_ns <= 0:
        return f"{span.where}: start and end times are required (an exported span has ended)"
    if span.end_ns < span.start_ns:
        return f"{span.where}: ends before it starts"
    return ""


# --- the answer -------------------------------------------------------------------


def encode_response(media_type: str, rejected: int, message: str) -> bytes:
    """An ExportTraceServiceResponse, with partial_success when spans were rejected."""
    if media_type == PROTOBUF:
        response = ExportTraceServiceResponse()
        if rejected or message:
            response.partial_success.rejected_spans = rejected
            response.partial_success.error_message = message
        return response.SerializeToString()
    answer: dict = {}
    if rejected or message:
        answer["partialSuccess"] = {"rejectedSpans": str(rejected), "errorMessage": message}
    return json.dumps(answer).encode()


def encode_status(media_type: str, code: int, message: str) -> bytes:
    """A google.rpc.Status, the body OTLP/HTTP gives with a 4xx or 5xx answer."""
    if media_type == PROTOBUF:
        from google.rpc.status_pb2 import Status

        return Status(code=code, message=message).SerializeToString()
    return json.dumps({"code": code, "message": message}).encode()
