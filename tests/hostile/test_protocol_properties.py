"""Property tests: whatever bytes or JSON arrive, the parsers accept or refuse clearly.

For any input, `parse_body` (native events, NDJSON, arrays, envelopes, Charm's stdout
and SSE streams) and the OTLP decoder and mapper either return events or refuse with
a `BodyError` (400, 413 or 415) or a per-event rejection whose message starts with the
field it is about; they never raise anything else and never take long. Every event
they accept is storable and comes back unchanged from the stored format.
"""

import gzip
import json
import re
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from runs.protocol import (
    EVENT_TYPES,
    BodyError,
    EventError,
    ParseResult,
    dumps_events,
    event_to_dict,
    loads_events,
    parse_body,
    validate_event,
)
from runs.protocol.otlp import JSON, PROTOBUF, decode_request
from runs.protocol.otlp_map import spans_to_events
from runs.protocol.storable import _check_size, _check_storable

# A hang shows as an example over the deadline; generous, the machine is shared.
FUZZ = settings(
    max_examples=200,
    deadline=timedelta(seconds=10),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

# A rejection names what it is about first: the event, the line, or a field's path (a
# key the sender made up is a path too), then a colon.
FIELD_FIRST = re.compile(r"^(?:event\b|line\b|invalid JSON|expected an event object|\S[^\n]*?: )")
SPAN_FIRST = re.compile(r"^(?:resourceSpans\[|resource_spans\[|span )")

CONTENT_TYPES = (
    "application/x-ndjson",
    "application/json",
    "application/jsonl",
    "text/plain",
    "text/event-stream",
    "text/csv",
    "",
    "application/json; charset=latin-1",
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["", "\x00", "\ud800", "NaN", "1e400", "9" * 30, "-1", "\u2028"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

DATA_FIELDS = (
    "inputs", "environment", "runtime", "config", "thread_id", "outputs", "format", "error",
    "tool_name", "input_str", "output", "span_id", "token", "model", "call_id", "started_at",
    "input", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
    "attributes", "tool", "tool_input", "status", "message", "next_step", "level", "stream",
    "logger", "kind", "amount", "currency", "customer", "external_id", "refund_of", "metadata",
    "name", "url", "mime", "count", "state", "exit_code", "duration_ms", "lines",
)  # fmt: skip
timestamps = st.one_of(
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.timezones()
    ).map(lambda moment: moment.isoformat()),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999Z",
            "2026-12-01T11:00:00Z",
            "2026-12-01T11:00:00",
            "2026-13-01T11:00:00Z",
        ]
    ),
    st.floats(),
    st.integers(min_value=-(2**70), max_value=2**70),
    json_values,
)
field_values = st.one_of(
    json_values,
    st.integers(min_value=-1, max_value=2**64),
    st.sampled_from(["USD", "JPY", "XXQ", "12.50", "-1", "1e3", "warn", "running", "json"]),
    st.dictionaries(
        st.sampled_from(["type", "message", "traceback", "name", "version", "required_env"]),
        json_values,
        max_size=3,
    ),
)
event_objects = st.fixed_dictionaries(
    {},
    optional={
        "v": st.one_of(st.just(1), json_values),
        "event_id": st.one_of(st.text(min_size=1, max_size=70), json_values),
        "run_id": st.one_of(st.text(min_size=1, max_size=130), json_values),
        "ts": timestamps,
        "seq": st.one_of(st.integers(min_value=-1, max_value=2**64), json_values),
        "type": st.one_of(st.sampled_from(EVENT_TYPES), st.text(max_size=12), json_values),
        "agent": st.one_of(
            st.fixed_dictionaries({"name": field_values}, optional={"version": field_values}),
            json_values,
        ),
        "data": st.one_of(
            st.dictionaries(st.sampled_from(DATA_FIELDS), field_values, max_size=8), json_values
        ),
    },
)
# Mostly events that would pass, so the checks past the envelope are reached too.
good_events = st.fixed_dictionaries(
    {
        "v": st.just(1),
        "event_id": st.text(min_size=1, max_size=64),
        "run_id": st.text(min_size=1, max_size=128),
        "ts": st.datetimes(
            min_value=datetime(2000, 1, 2), max_value=datetime(2026, 11, 30), timezones=st.just(UTC)
        ).map(lambda moment: moment.isoformat()),
        "type": st.sampled_from(EVENT_TYPES),
        "agent": st.fixed_dictionaries({"name": st.text(min_size=1, max_size=20)}),
        "data": st.dictionaries(st.sampled_from(DATA_FIELDS), field_values, max_size=10),
    }
)
any_event = st.one_of(good_events, event_objects, json_values)


def assert_well_formed(result: ParseResult) -> None:
    """Rejections name their field; accepted events are storable and survive the store."""
    for rejection in (*result.rejected, *result.noted):
        assert isinstance(rejection.error, str) and rejection.error
        _check_storable(rejection.error)  # kept on the batch row, shown on a page
    for rejection in result.rejected:
        assert FIELD_FIRST.match(rejection.error), rejection.error
    for event in result.events:
        stored = event_to_dict(event)
        _check_storable(stored)
        _check_size(stored)
    assert loads_events(dumps_events(result.events)) == result.events


def parse(body: bytes, content_type: str = "application/x-ndjson", **options) -> ParseResult | None:
    """parse_body's result, or None when it refused the body with a clear BodyError."""
    try:
        result = parse_body(body, content_type=content_type, received_at=NOW, **options)
    except BodyError as error:
        assert error.status in (400, 413, 415)
        assert error.message
        return None
    assert_well_formed(result)
    return result


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=True)


@FUZZ
@given(
    body=st.binary(max_size=2000),
    content_type=st.sampled_from(CONTENT_TYPES),
    gzipped=st.booleans(),
)
def test_any_bytes_are_parsed_or_refused_with_a_clear_status(body, content_type, gzipped):
    headers = {"content_encoding": "gzip", "run_id": "run-1"} if gzipped else {"run_id": "run-1"}
    parse(gzip.compress(body) if gzipped else body, content_type, **headers)


@FUZZ
@given(
    events=st.lists(any_event, max_size=6), shape=st.sampled_from(["ndjson", "array", "envelope"])
)
def test_any_json_events_are_taken_or_rejected_naming_the_field(events, shape):
    if shape == "ndjson":
        body = "\n".join(dumps(event) for event in events)
    elif shape == "array":
        body = dumps(events)
    else:
        body = dumps({"events": events})
    result = parse(body.encode("utf-8", "surrogatepass"), "application/x-ndjson")
    if result is not None and shape != "ndjson":
        assert len(result.events) + len(result.rejected) == len(events)


@FUZZ
@given(event=any_event)
def test_validate_event_takes_or_refuses_one_event_with_an_event_error(event):
    try:
        accepted = validate_event(event)
    except EventError as error:
        assert FIELD_FIRST.match(str(error)), str(error)
        return
    assert loads_events(dumps_events([accepted])) == [accepted]


# Charm's streams -------------------------------------------------------------------------

CHARM_TYPES = (
    "status", "thinking", "delta", "final", "error", "artifact", "tool_usage", "state_update",
    "control", "internal_run_finished", "other",
)  # fmt: skip
charm_payloads = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(CHARM_TYPES), json_values)},
    optional={
        "content": st.one_of(
            json_values,
            st.sampled_from(
                [
                    "Using Tool: search\nInput: {}",
                    "Tool Output: 3 hits...",
                    "Tool Error: KeyError: 'x'",
                    "Thought: I need to use search with q",
                    "[charm] ERROR: boom",
                    "...",
                    "Agent Execution Failed: ValueError: bad",
                    "Execution Failed (Code 137).",
                ]
            ),
            st.fixed_dictionaries(
                {}, optional={"name": field_values, "url": field_values, "exit_code": field_values}
            ),
        ),
        "format": field_values,
        "tool": field_values,
        "count": field_values,
        "status": st.one_of(st.just("suspended"), field_values),
        "thread_id": field_values,
        "next_step": field_values,
        "exit_code": field_values,
        "duration_ms": field_values,
    },
)
charm_lines = st.one_of(
    st.text(max_size=80),
    charm_payloads.map(lambda value: "__CHARM_EVENT__" + dumps(value)),
    charm_payloads.map(lambda value: "::CHARM_EVENT:: " + dumps(value)),
    st.sampled_from(["[charm] INFO: ready", "[charm] BOGUS: x", "✔ Loaded Agent: bot", ""]),
    st.just('{"status": "success", "output": "done"}'),
    any_event.map(dumps),
    st.text(max_size=40).map(lambda text: "__CHARM_EVENT__{" + text),
)


@FUZZ
@given(
    lines=st.lists(charm_lines, max_size=12),
    sse=st.booleans(),
    offset=st.integers(min_value=0, max_value=2**40),
    ended=st.booleans(),
    agent=st.none() | st.text(min_size=1, max_size=20),
)
def test_any_charm_stream_is_kept_line_by_line(lines, sse, offset, ended, agent):
    if sse:
        text = "".join(
            "".join(f"data: {piece}\n" for piece in line.split("\n")) + "\n" for line in lines
        )
    else:
        text = "\n".join(lines)
    parse(
        text.encode("utf-8", "surrogatepass"),
        "text/event-stream" if sse else "text/plain",
        run_id="run-1",
        stream_offset=offset,
        stream_ended=ended,
        agent=agent,
    )


# OTLP ----------------------------------------------------------------------------------


def spans_events(body: bytes, media: str) -> None:
    try:
        spans = decode_request(body, media)
    except BodyError as error:
        assert error.status == 400 and error.message
        return
    events, problems = spans_to_events(spans, received_at=NOW)
    for problem in problems:
        assert SPAN_FIRST.match(problem), problem
    assert_well_formed(ParseResult(events, []))


@FUZZ
@given(body=st.binary(max_size=2000), media=st.sampled_from([PROTOBUF, JSON]))
def test_any_bytes_as_otlp_are_decoded_or_refused_with_400(body, media):
    spans_events(body, media)


nanos = st.one_of(
    st.integers(min_value=1_700_000_000 * 10**9, max_value=1_764_590_400 * 10**9),
    st.integers(min_value=0, max_value=2**64 - 1),
)
otlp_values = st.recursive(
    st.one_of(
        st.fixed_dictionaries({"stringValue": st.one_of(st.text(max_size=20), json_values)}),
        st.fixed_dictionaries({"intValue": st.one_of(st.integers().map(str), json_values)}),
        st.fixed_dictionaries({"doubleValue": json_values}),
        st.fixed_dictionaries({"boolValue": json_values}),
        st.fixed_dictionaries({"bytesValue": json_values}),
        json_values,
    ),
    lambda inner: st.one_of(
        st.fixed_dictionaries(
            {
                "arrayValue": st.one_of(
                    st.fixed_dictionaries({"values": st.lists(inner)}), json_values
                )
            }
        ),
        st.fixed_dictionaries(
            {
                "kvlistValue": st.one_of(
                    st.fixed_dictionaries(
                        {
                            "values": st.lists(
                                st.fixed_dictionaries({"key": st.text(max_size=8), "value": inner})
                            )
                        }
                    ),
                    json_values,
                )
            }
        ),
    ),
    max_leaves=8,
)
ATTRIBUTE_KEYS = (
    "openinference.span.kind", "input.value", "input.mime_type", "output.value",
    "output.mime_type", "llm.model_name", "llm.token_count.prompt", "gen_ai.operation.name",
    "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.usage.input_tokens",
    "tool.name", "session.id", "exception.type", "exception.message", "agent.name",
    "llm.input_messages.0.message.content", "gen_ai.completion.0.content",
)  # fmt: skip
attribute_values = st.one_of(
    otlp_values,
    st.sampled_from(["LLM", "TOOL", "AGENT", "chat", "execute_tool", "application/json"]).map(
        lambda text: {"stringValue": text}
    ),
    json_values.map(lambda value: {"stringValue": dumps(value)}),
    st.sampled_from(['[{"parts": 5}]', '{"a": NaN}', '"\\u0000"', '"\\ud800"', "[" * 2000]).map(
        lambda text: {"stringValue": text}
    ),
)
otlp_attributes = st.one_of(
    st.lists(
        st.fixed_dictionaries(
            {
                "key": st.one_of(st.sampled_from(ATTRIBUTE_KEYS), st.text(max_size=10)),
                "value": attribute_values,
            }
        ),
        max_size=6,
    ),
    json_values,
)
hex_ids = lambda size: st.one_of(  # noqa: E731
    st.binary(min_size=size, max_size=size).map(bytes.hex), json_values
)
otlp_spans = st.fixed_dictionaries(
    {"traceId": hex_ids(16), "spanId": hex_ids(8)},
    optional={
        "parentSpanId": st.one_of(st.just(""), hex_ids(8)),
        "name": json_values,
        "kind": json_values,
        "startTimeUnixNano": st.one_of(nanos.map(str), nanos, json_values),
        "endTimeUnixNano": st.one_of(nanos.map(str), nanos, json_values),
        "status": st.one_of(
            st.fixed_dictionaries({}, optional={"code": json_values, "message": json_values}),
            json_values,
        ),
        "attributes": otlp_attributes,
        "events": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "name": st.one_of(st.just("exception"), json_values),
                        "timeUnixNano": st.one_of(nanos.map(str), json_values),
                        "attributes": otlp_attributes,
                    },
                ),
                max_size=3,
            ),
            json_values,
        ),
    },
)
good_values = st.recursive(
    st.one_of(
        st.fixed_dictionaries({"stringValue": st.text(max_size=20)}),
        st.fixed_dictionaries(
            {"intValue": st.integers(min_value=-(2**63), max_value=2**63 - 1).map(str)}
        ),
        st.fixed_dictionaries({"doubleValue": st.floats(allow_nan=False, allow_infinity=False)}),
        st.fixed_dictionaries({"boolValue": st.booleans()}),
    ),
    lambda inner: st.fixed_dictionaries(
        {"arrayValue": st.fixed_dictionaries({"values": st.lists(inner, max_size=3)})}
    ),
    max_leaves=4,
)
good_spans = st.fixed_dictionaries(
    {
        "traceId": st.binary(min_size=16, max_size=16).map(bytes.hex),
        "spanId": st.binary(min_size=8, max_size=8).map(bytes.hex),
        "parentSpanId": st.sampled_from(["", "0102030405060708"]),
        "name": st.text(max_size=20),
        "kind": st.sampled_from(["SPAN_KIND_INTERNAL", "SPAN_KIND_CLIENT", 1, 3]),
        "startTimeUnixNano": st.just(str(1_764_000_000 * 10**9)),
        "endTimeUnixNano": st.integers(
            min_value=1_764_000_000 * 10**9, max_value=1_764_590_400 * 10**9
        ).map(str),
        "status": st.fixed_dictionaries({"code": st.sampled_from([0, 1, 2, "STATUS_CODE_ERROR"])}),
        "attributes": st.lists(
            st.fixed_dictionaries(
                {
                    "key": st.sampled_from(ATTRIBUTE_KEYS),
                    "value": st.one_of(good_values, attribute_values),
                }
            ),
            max_size=6,
        ),
        "events": st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.sampled_from(["exception", "gen_ai.choice", "note"]),
                    "timeUnixNano": nanos.map(str),
                    "attributes": st.lists(
                        st.fixed_dictionaries(
                            {"key": st.sampled_from(ATTRIBUTE_KEYS), "value": good_values}
                        ),
                        max_size=3,
                    ),
                }
            ),
            max_size=2,
        ),
    }
)
otlp_documents = st.fixed_dictionaries(
    {
        "resourceSpans": st.lists(
            st.fixed_dictionaries(
                {
                    "resource": st.fixed_dictionaries(
                        {"attributes": st.just([]) | otlp_attributes}
                    ),
                    "scopeSpans": st.lists(
                        st.fixed_dictionaries(
                            {
                                "scope": st.fixed_dictionaries({"name": json_values}),
                                "spans": st.lists(good_spans | otlp_spans, max_size=4),
                            }
                        ),
                        max_size=2,
                    ),
                }
            ),
            max_size=2,
        )
    }
)


@FUZZ
@given(document=otlp_documents)
def test_any_otlp_json_spans_are_taken_or_rejected_naming_the_span(document):
    spans_events(dumps(document).encode("utf-8", "surrogatepass"), JSON)


pb_texts = st.one_of(
    st.text(max_size=20),
    # What the mapping reads, and JSON it parses that cannot be stored as it is.
    st.sampled_from(["LLM", "TOOL", "AGENT", "chat", "execute_tool", "application/json"]),
    st.sampled_from(['{"a": NaN}', '"\\u0000"', '["\\ud800"]', "[" * 70 + "]" * 70]),
    st.just("\x01" * 50_000),  # six times as long as JSON
)
pb_values = st.recursive(
    st.one_of(
        pb_texts.map(lambda text: AnyValue(string_value=text)),
        st.integers(min_value=-(2**63), max_value=2**63 - 1).map(lambda n: AnyValue(int_value=n)),
        st.floats().map(lambda x: AnyValue(double_value=x)),
        st.booleans().map(lambda b: AnyValue(bool_value=b)),
        st.binary(max_size=8).map(lambda b: AnyValue(bytes_value=b)),
    ),
    lambda inner: st.lists(inner, max_size=3).map(
        lambda items: AnyValue(array_value={"values": items})
    ),
    max_leaves=6,
)


@FUZZ
@given(
    spans=st.lists(
        st.fixed_dictionaries(
            {
                "trace_id": st.binary(min_size=16, max_size=16),
                "span_id": st.binary(min_size=8, max_size=8),
                "parent_span_id": st.sampled_from([b"", b"\x01" * 8]),
                "name": st.text(max_size=20),
                "kind": st.integers(min_value=0, max_value=5),
                "start_time_unix_nano": nanos,
                "end_time_unix_nano": nanos,
                "attributes": st.lists(
                    st.builds(
                        KeyValue,
                        key=st.sampled_from(ATTRIBUTE_KEYS) | st.text(max_size=8),
                        value=pb_values,
                    ),
                    max_size=5,
                ),
            }
        ),
        max_size=5,
    )
)
def test_any_protobuf_spans_are_taken_or_rejected_naming_the_span(spans):
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.extend(
        [_pb_span(**span) for span in spans]
    )
    spans_events(request.SerializeToString(), PROTOBUF)


def _pb_span(attributes, **fields):
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    span = Span(**fields)
    span.attributes.extend(attributes)
    return span
