"""Event protocol v1: request bodies, event validation and the storage format."""

import gzip
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest

from runs.protocol import (
    EVENT_TYPES,
    MAX_EVENT_BYTES,
    MAX_REQUEST_BYTES,
    TERMINAL_STATUSES,
    BodyError,
    Event,
    EventError,
    ParseResult,
    Rejection,
    dumps_events,
    event_from_dict,
    event_to_dict,
    loads_events,
    parse_body,
    validate_event,
)

NOW = datetime.now(UTC).replace(microsecond=0)
TS = (NOW - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")

DATA = {
    "run_start": {"inputs": {"invoice": 981}},
    "run_end": {"outputs": {"sent": True}},
    "error": {"error": {"type": "KeyError", "message": "'OPENAI_API_KEY'"}},
    "tool_start": {"tool_name": "search", "input_str": "overdue invoices", "span_id": "t1"},
    "tool_end": {"tool_name": "search", "output": {"hits": 3}, "span_id": "t1"},
    "tool_error": {"tool_name": "search", "error": {"type": "Timeout", "message": "slow"}},
    "llm_new_token": {"token": "Hello", "model": "gpt-4o", "call_id": "c1"},
    "agent_action": {"tool": "search", "tool_input": {"q": "overdue"}},
    "status": {"status": "validating", "message": "checking inputs"},
    "log": {"message": "fetched 3 invoices", "level": "info"},
    "usage": {"model": "gpt-4o", "input_tokens": 1200, "output_tokens": 340},
    "llm_call": {
        "call_id": "c2",
        "model": "gpt-4o",
        "started_at": TS,
        "input": [{"role": "user", "content": "Which invoices are overdue?"}],
        "output": "Three.",
        "input_tokens": 900,
        "output_tokens": 12,
    },
    "revenue": {"kind": "charge", "amount": "12.50", "currency": "USD"},
    "artifact": {
        "name": "report.pdf",
        "url": "https://files.example/r.pdf",
        "mime": "application/pdf",
    },
    "tool_usage": {"tool": "search", "count": 2},
    "state_update": {"state": {"step": 3}},
    "process_exit": {"exit_code": 137, "duration_ms": 5400},
    "stream_end": {"lines": 12},
}


def event(event_type: str = "tool_start", **fields: object) -> dict:
    """A valid event of `event_type`; keyword arguments replace (or, as None, drop) fields."""
    obj: dict = {
        "v": 1,
        "event_id": f"ev-{event_type}",
        "run_id": "run_8f2a",
        "seq": 4,
        "ts": TS,
        "type": event_type,
        "agent": {"name": "invoice-bot", "version": "1.4.0"},
        "data": DATA[event_type],
    }
    obj.update(fields)
    return {key: value for key, value in obj.items() if value is not None}


def with_data(event_type: str, **data: object) -> dict:
    merged = {**DATA[event_type], **data}
    return event(
        event_type, data={key: value for key, value in merged.items() if value is not None}
    )


def ndjson(*lines: object) -> bytes:
    return "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines).encode()


def parse(body: bytes, content_type: str = "application/x-ndjson", **kwargs: str) -> ParseResult:
    return parse_body(body, content_type=content_type, received_at=NOW, **kwargs)


def error_of(obj: object) -> str:
    with pytest.raises(EventError) as caught:
        validate_event(obj)
    return str(caught.value)


def body_error(body: bytes, content_type: str = "application/json", **kwargs: str) -> BodyError:
    with pytest.raises(BodyError) as caught:
        parse(body, content_type, **kwargs)
    return caught.value


# Body formats ---------------------------------------------------------------------------


def test_ndjson_body_gives_one_event_per_line():
    result = parse(ndjson(event(event_id="a"), event(event_id="b")))
    assert [e.event_id for e in result.events] == ["a", "b"]
    assert result.rejected == []


@pytest.mark.parametrize(
    "content_type",
    ["application/jsonl", "application/ndjson", "application/x-ndjson; charset=utf-8"],
)
def test_ndjson_is_accepted_under_its_other_content_types(content_type):
    assert len(parse(ndjson(event(), event(event_id="b")), content_type).events) == 2


def test_event_fields_are_parsed_into_an_event():
    [parsed] = parse(ndjson(event())).events
    assert parsed == Event(
        event_id="ev-tool_start",
        run_id="run_8f2a",
        type="tool_start",
        ts=NOW - timedelta(minutes=5),
        seq=4,
        agent_name="invoice-bot",
        agent_version="1.4.0",
        data={"tool_name": "search", "input_str": "overdue invoices", "span_id": "t1"},
    )


def test_json_array_body_gives_one_event_per_element():
    body = json.dumps([event(event_id="a"), event(event_id="b")], indent=2).encode()
    assert [e.event_id for e in parse(body, "application/json").events] == ["a", "b"]


def test_events_envelope_body_is_accepted():
    body = json.dumps({"events": [event(event_id="a"), event(event_id="b")]}).encode()
    assert [e.event_id for e in parse(body, "application/json").events] == ["a", "b"]


def test_events_envelope_with_more_keys_is_accepted():
    body = json.dumps({"sdk": "charm", "events": [event(event_id="a")], "sent_at": TS}).encode()
    assert [e.event_id for e in parse(body, "application/json").events] == ["a"]


def test_envelope_whose_events_is_not_an_array_is_refused():
    error = body_error(json.dumps({"events": {"a": 1}}).encode())
    assert error.status == 400
    assert "events: expected an array of event objects, got object" in error.message


def test_events_envelope_followed_by_more_keys_is_accepted():
    body = json.dumps({"events": [event(event_id="a")], "sent_at": TS}).encode()
    assert [e.event_id for e in parse(body, "application/json").events] == ["a"]


def test_single_event_object_as_application_json_is_one_event():
    assert len(parse(json.dumps(event()).encode(), "application/json").events) == 1


def test_application_json_body_of_several_lines_is_read_as_ndjson():
    body = ndjson(event(event_id="a"), "", event(event_id="b"), "{broken")
    result = parse(body, "application/json")
    assert [e.event_id for e in result.events] == ["a", "b"]
    assert [r.index for r in result.rejected] == [3]


def test_ndjson_content_type_holding_a_json_array_is_read_as_an_array():
    body = json.dumps([event(event_id="a"), event(event_id="b")]).encode()
    assert len(parse(body, "application/x-ndjson").events) == 2


def test_ndjson_content_type_holding_a_pretty_printed_envelope_is_read_as_one_document():
    body = json.dumps({"events": [event()]}, indent=2).encode()
    assert len(parse(body, "application/x-ndjson").events) == 1


def test_ndjson_content_type_holding_one_pretty_printed_event_is_read_as_one_document():
    body = json.dumps(event(), indent=2).encode()
    assert len(parse(body, "application/x-ndjson").events) == 1


def test_missing_content_type_is_read_by_content():
    assert len(parse(ndjson(event(), event(event_id="b")), "").events) == 2


@pytest.mark.parametrize("body", [b"", b"  \n\n ", b"[]", b"[ ]", b'{"events": []}'], ids=repr)
def test_empty_body_or_empty_array_gives_no_events_and_no_error(body):
    assert parse(body, "application/json") == parse(body, "application/x-ndjson")
    result = parse(body, "application/json")
    assert (result.events, result.rejected) == ([], [])


def test_blank_lines_are_skipped_but_count_for_the_line_index():
    result = parse(ndjson("", event(), "   ", "not json"))
    assert len(result.events) == 1
    assert [r.index for r in result.rejected] == [3]


@pytest.mark.parametrize("body", [b"\x0c", b"\x0b\n\x1c", "\u2028\n".encode()], ids=repr)
def test_ndjson_of_lines_python_calls_blank_gives_no_events(body):
    result = parse(body, "application/x-ndjson")
    assert (result.events, result.rejected) == ([], [])


def test_invalid_json_line_is_rejected_with_its_index_and_column():
    result = parse(ndjson(event(event_id="a"), event(event_id="b"), "", '{"v": 1 "type": "log"}'))
    assert len(result.events) == 2
    assert result.rejected == [
        Rejection(3, "invalid JSON: Expecting ',' delimiter at column 9"),
    ]


def test_crlf_line_endings_are_accepted():
    body = json.dumps(event(event_id="a")) + "\r\n" + json.dumps(event(event_id="b")) + "\r\n"
    assert len(parse(body.encode()).events) == 2


def test_line_separator_character_inside_a_string_does_not_split_the_line():
    obj = with_data("log", message="first\u2028second")
    [parsed] = parse(json.dumps(obj, ensure_ascii=False).encode()).events
    assert parsed.data["message"] == "first\u2028second"


def test_byte_order_mark_is_ignored():
    assert len(parse(b"\xef\xbb\xbf" + ndjson(event())).events) == 1


def test_valid_events_survive_next_to_invalid_ones():
    body = ndjson(
        event(event_id="a"),
        event(type="foo"),
        "{",
        with_data("revenue", amount=12.5),
        event(event_id="b"),
        [1, 2],
        event(ts="yesterday"),
        event(event_id="c", type="log", data={"message": "ok"}),
    )
    result = parse(body)
    assert [e.event_id for e in result.events] == ["a", "b", "c"]
    assert [r.index for r in result.rejected] == [1, 2, 3, 5, 6]


def test_valid_array_elements_survive_next_to_invalid_ones():
    body = json.dumps([event(event_id="a"), "nope", event(seq=-1), event(event_id="b")]).encode()
    result = parse(body, "application/json")
    assert [e.event_id for e in result.events] == ["a", "b"]
    assert result.rejected[0] == Rejection(1, 'expected an event object, got string "nope"')
    assert result.rejected[1].index == 2
    assert result.rejected[1].error.startswith("seq: expected a whole number")


def test_ndjson_where_no_line_is_json_is_refused_with_the_reason():
    error = body_error(b"hello\nworld\n", "application/x-ndjson")
    assert error.status == 400
    assert "no line holds a JSON object" in error.message
    assert "line 0: invalid JSON: Expecting value at column 1" in error.message


def test_broken_json_document_is_refused_with_line_and_column():
    body = json.dumps([event(), event()], indent=2).encode().replace(b'"seq": 4,', b'"seq": 4', 1)
    error = body_error(body)
    assert error.status == 400
    assert error.message.startswith("body is not valid JSON: Expecting ',' delimiter at line ")


def test_array_with_a_missing_comma_is_refused():
    error = body_error(b"[{} {}]")
    assert error.message.startswith("body is not valid JSON: Expecting ',' delimiter at line 1")


@pytest.mark.parametrize("body", [b"1\n2", b"[1]\n[2]"], ids=repr)
def test_json_body_of_several_values_none_an_object_is_refused(body):
    error = body_error(body)
    assert error.status == 400
    assert error.message.startswith("body holds no event object (line 0: expected an event object")


def test_json_body_that_is_not_an_object_or_array_is_refused():
    error = body_error(b'"hello"')
    assert error.status == 400
    assert 'body holds string "hello"' in error.message


def test_run_id_header_fills_in_events_that_lack_a_run_id():
    result = parse(ndjson(event(run_id=None), event(event_id="b", run_id="own")), run_id="hdr")
    assert [e.run_id for e in result.events] == ["hdr", "own"]


# Limits, encodings, content types --------------------------------------------------------


def test_request_over_the_size_limit_is_refused_with_413():
    error = body_error(b" " * (MAX_REQUEST_BYTES + 1))
    assert error.status == 413
    assert "the limit is 10,485,760" in error.message


def test_event_over_the_size_limit_is_rejected_by_itself():
    big = with_data("log", message="x" * MAX_EVENT_BYTES)
    result = parse(ndjson(event(event_id="a"), big, event(event_id="b")))
    assert [e.event_id for e in result.events] == ["a", "b"]
    [rejection] = result.rejected
    assert rejection.index == 1
    size = len(json.dumps(big, separators=(",", ":")).encode())
    assert rejection.error == f"event is {size:,} bytes; the limit is 1,048,576"


def test_array_element_over_the_size_limit_is_rejected_by_itself():
    big = with_data("log", message="é" * (MAX_EVENT_BYTES // 2))
    result = parse(json.dumps([big, event()], ensure_ascii=False).encode(), "application/json")
    assert len(result.events) == 1
    assert result.rejected[0].index == 0
    assert result.rejected[0].error.startswith("event is 1,048,")


def test_event_just_under_the_size_limit_is_accepted():
    obj = with_data("log", message="")
    room = MAX_EVENT_BYTES - len(json.dumps(obj, separators=(",", ":")))
    obj["data"]["message"] = "x" * room
    assert len(parse(json.dumps(obj).encode()).events) == 1


def test_gzip_body_is_decompressed():
    body = gzip.compress(ndjson(event(event_id="a"), event(event_id="b")))
    assert len(parse(body, content_encoding="gzip").events) == 2


def test_gzip_body_of_several_members_is_decompressed_whole():
    body = gzip.compress(ndjson(event(event_id="a"))) + gzip.compress(b"\n" + ndjson(event()))
    assert len(parse(body, content_encoding="GZIP").events) == 2


def test_corrupt_gzip_is_refused_with_400():
    body = bytearray(gzip.compress(ndjson(event()) * 5))
    body[20:30] = b"\xff" * 10
    error = body_error(bytes(body), content_encoding="gzip")
    assert error.status == 400
    assert error.message.startswith("body is not valid gzip: ")


def test_truncated_gzip_is_refused_with_400():
    body = gzip.compress(ndjson(event()))[:-12]
    error = body_error(body, content_encoding="gzip")
    assert (error.status, error.message) == (
        400,
        "body is not valid gzip: the data ends early (truncated)",
    )


def test_uncompressed_body_labelled_gzip_is_refused_with_400():
    error = body_error(ndjson(event()), content_encoding="gzip")
    assert error.status == 400
    assert error.message.startswith("body is not valid gzip: ")


def test_gzip_bomb_is_stopped_at_the_request_limit_with_413():
    bomb = gzip.compress(b" " * (MAX_REQUEST_BYTES + 1024))
    assert len(bomb) < 100_000
    error = body_error(bomb, content_encoding="gzip")
    assert error.status == 413
    assert "after gzip decompression" in error.message


def test_gzip_body_exactly_at_the_request_limit_is_accepted():
    body = ndjson(event()) + b"\n" * (MAX_REQUEST_BYTES - len(ndjson(event())))
    assert len(parse(gzip.compress(body), content_encoding="gzip").events) == 1


def test_unknown_content_encoding_is_refused_with_415():
    error = body_error(ndjson(event()), content_encoding="br")
    assert (error.status, error.message) == (
        415,
        "unsupported Content-Encoding 'br'; send gzip or no encoding",
    )


def test_identity_content_encoding_is_plain():
    assert len(parse(ndjson(event()), content_encoding="identity").events) == 1


def test_unknown_content_type_is_refused_with_415():
    error = body_error(b"<xml/>", "application/xml")
    assert error.status == 415
    assert "unsupported Content-Type 'application/xml'" in error.message


def test_form_content_type_is_refused_with_a_hint_about_curl():
    error = body_error(ndjson(event()), "application/x-www-form-urlencoded")
    assert error.status == 415
    assert "--data-binary" in error.message


def test_invalid_utf8_line_is_rejected_by_itself():
    result = parse(ndjson(event(event_id="a")) + b'\n{"v": 1, "x": "\xff"}\n' + ndjson(event()))
    assert len(result.events) == 2
    assert result.rejected == [Rejection(1, "line is not valid UTF-8")]


def test_invalid_utf8_in_a_single_event_document_is_refused():
    error = body_error(b'{"v": 1, "x": "\xff"}')
    assert error.message == "body is not valid UTF-8: byte 0xff at offset 15 is not valid UTF-8"


def test_invalid_utf8_in_a_json_document_is_refused():
    body = b'[{"v": 1, "x": "\xff"}]'
    error = body_error(body)
    assert error.status == 400
    assert error.message == "body is not valid UTF-8: byte 0xff at offset 16 is not valid UTF-8"


# Values the database could not store -------------------------------------------------------


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_number_is_rejected_with_its_path(number):
    line = json.dumps(event("tool_end")).replace('"hits": 3', f'"hits": {number}')
    result = parse(ndjson(line, event(event_id="b")))
    assert len(result.events) == 1
    assert result.rejected[0].error.startswith("data.output.hits: expected a finite number, got")


def test_non_finite_number_in_an_array_element_is_rejected_by_itself():
    text = json.dumps([event("tool_end"), event(event_id="b")]).replace('"hits": 3', '"hits": NaN')
    result = parse(text.encode(), "application/json")
    assert [e.event_id for e in result.events] == ["b"]
    assert result.rejected[0].index == 0


def test_nul_character_in_a_string_is_rejected():
    result = parse(ndjson(with_data("log", message="a\u0000b")))
    assert result.rejected[0].error.startswith("data.message: string contains a NUL character")


@pytest.mark.parametrize("escape", ["\\ud83d", "\\uD83D", "\\ude00x"])
def test_unpaired_surrogate_is_rejected_but_an_escaped_emoji_is_accepted(escape):
    lone = json.dumps(with_data("log", message="x")).replace('"x"', f'"{escape}"')
    pair = json.dumps(with_data("log", message="\U0001f600"))  # ASCII-escaped as a pair
    result = parse(ndjson(lone, pair))
    assert result.events[0].data["message"] == "\U0001f600"
    assert result.rejected[0].index == 0
    assert "data.message: string contains an unpaired UTF-16 surrogate" in result.rejected[0].error


def test_unstorable_value_inside_a_list_is_named_by_its_position():
    line = json.dumps(with_data("run_end", outputs=[1, {"x": [2, 0.5]}])).replace("0.5", "NaN")
    assert parse(ndjson(line)).rejected[0].error == (
        "data.outputs[1].x[1]: expected a finite number, got NaN"
    )


def test_nul_character_in_an_object_key_is_rejected():
    line = json.dumps(with_data("run_end", outputs={"a\u0000": 1}))
    assert (
        parse(ndjson(line))
        .rejected[0]
        .error.startswith('data.outputs."a\\u0000" (key): string contains a NUL character')
    )


def test_too_deeply_nested_data_is_rejected():
    inputs: object = "bottom"
    for _ in range(100):
        inputs = {"a": inputs}
    result = parse(ndjson(with_data("run_start", inputs=inputs)))
    assert "nested more than 64 levels deep" in result.rejected[0].error


def test_absurdly_nested_line_is_rejected_as_invalid_json():
    result = parse(ndjson(event(), "[" * 100_000))
    assert len(result.events) == 1
    assert result.rejected == [Rejection(1, "invalid JSON: nested too deeply")]


def test_number_with_thousands_of_digits_is_rejected_as_invalid_json():
    result = parse(ndjson(event(), '{"v": 1, "seq": ' + "9" * 5000 + "}"))
    assert result.rejected == [Rejection(1, "invalid JSON: a number has too many digits")]


# text/plain: a process's stdout -----------------------------------------------------------


def test_text_plain_without_a_run_id_is_refused():
    error = body_error(b"hello\n", "text/plain")
    assert (error.status, error.message) == (
        400,
        "text/plain and text/event-stream bodies need an X-Charm-Run-Id header naming the run",
    )


def test_text_plain_with_an_overlong_run_id_is_refused():
    error = body_error(b"hello\n", "text/plain", run_id="r" * 129)
    assert error.status == 400
    assert error.message.startswith("X-Charm-Run-Id: expected 1–128 characters")


def test_plain_lines_become_log_events_of_the_run():
    result = parse(b"starting\r\n\nfetched 3 invoices\n", "text/plain; charset=utf-8", run_id="r1")
    assert result.rejected == []
    first, second = result.events
    # Line order is the event's seq: the wire has no sequence of its own.
    assert (first.type, first.run_id, first.seq, first.agent_name) == ("log", "r1", 0, None)
    assert first.data == {
        "message": "starting",
        "level": "info",
        "stream": "stdout",
        "logger": None,
    }
    assert second.data["message"] == "fetched 3 invoices"
    assert first.ts == NOW
    assert second.ts == NOW + timedelta(microseconds=2)


def test_plain_line_event_id_is_derived_from_run_position_and_line_not_the_receive_time():
    [parsed] = parse(b"\nhello", "text/plain", run_id="r1").events
    digest = hashlib.sha256(b"r1\n1\nlog\nhello").hexdigest()
    assert parsed.event_id == "cs-" + digest[:40]
    later = NOW + timedelta(hours=1)
    [again] = parse_body(
        b"\nhello", content_type="text/plain", run_id="r1", received_at=later
    ).events
    assert again.event_id == parsed.event_id


def test_the_same_stdout_sent_again_gives_the_same_event_ids():
    body = b"one\ntwo\none\n"
    first = [e.event_id for e in parse(body, "text/plain", run_id="r1").events]
    again = [e.event_id for e in parse(body, "text/plain", run_id="r1").events]
    assert first == again
    assert len(set(first)) == 3


def test_event_lines_in_stdout_are_taken_as_events():
    line = json.dumps(event(event_id="e1", run_id="other"))
    result = parse(f"starting\n{line}\ndone\n".encode(), "text/plain", run_id="r1")
    assert [(e.type, e.run_id) for e in result.events] == [
        ("log", "r1"),
        ("tool_start", "other"),
        ("log", "r1"),
    ]
    assert result.events[1].event_id == "e1"


def test_event_line_without_run_id_event_id_or_ts_takes_them_from_the_request():
    line = json.dumps({"v": 1, "type": "status", "data": {"status": "validating"}})
    [parsed] = parse(f"x\n{line}".encode(), "text/plain", run_id="r1").events[1:]
    digest = hashlib.sha256(f"r1\n1\n{line}".encode()).hexdigest()
    assert (parsed.type, parsed.run_id, parsed.event_id) == (
        "status",
        "r1",
        "cs-" + digest[:40],
    )
    assert parsed.ts == NOW + timedelta(microseconds=1)


def test_invalid_event_line_in_stdout_is_rejected_with_its_line_index():
    line = json.dumps({"v": 1, "type": "status", "data": {"status": "done"}})
    result = parse(f"a\n\n{line}\nb".encode(), "text/plain", run_id="r1")
    assert [e.data["message"] for e in result.events] == ["a", "b"]
    assert result.rejected[0].index == 2
    assert result.rejected[0].error.startswith("data.status: expected one of queued, running")


def test_other_json_in_stdout_stays_a_log_line():
    api_reply = '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
    result = parse(f"{api_reply}\n{{not json\n".encode(), "text/plain", run_id="r1")
    assert [e.type for e in result.events] == ["log", "log"]
    assert result.events[0].data["message"] == api_reply


def test_stdout_line_over_the_event_limit_is_rejected_by_itself():
    body = b"ok\n" + b"x" * (MAX_EVENT_BYTES + 1) + b"\nok"
    result = parse(body, "text/plain", run_id="r1")
    assert len(result.events) == 2
    assert result.rejected == [Rejection(1, "line is 1,048,577 bytes; the limit is 1,048,576")]


def test_stdout_with_invalid_utf8_or_nul_bytes_is_kept_readable():
    [parsed] = parse(b"bad \xff byte \x00 here", "text/plain", run_id="r1").events
    assert parsed.data["message"] == "bad \ufffd byte \ufffd here"


# Event envelope ------------------------------------------------------------------------------


def test_missing_v_means_version_1():
    assert validate_event(event(v=None)).type == "tool_start"


@pytest.mark.parametrize("version", [2, "1", True, 1.0])
def test_other_protocol_versions_are_rejected(version):
    assert error_of(event(v=version)).startswith(
        f"v: unsupported protocol version {json.dumps(version)}; this server speaks 1"
    )


def test_non_object_event_is_rejected():
    assert error_of([1]) == "expected an event object, got array"


@pytest.mark.parametrize(
    ("event_id", "found"),
    [
        (None, "required field is missing"),
        ("", "got an empty string"),
        ("x" * 65, "(65 characters)"),
        (7, "got number 7"),
    ],
)
def test_event_id_must_be_a_string_of_1_to_64_characters(event_id, found):
    error = error_of(event(event_id=event_id))
    assert error.startswith("event_id: ")
    assert "a string of 1–64 characters" in error
    assert found in error


def test_event_id_of_64_characters_is_accepted():
    assert validate_event(event(event_id="x" * 64)).event_id == "x" * 64


@pytest.mark.parametrize("run_id", [None, "", "r" * 129, ["r"]])
def test_run_id_must_be_a_string_of_1_to_128_characters(run_id):
    assert error_of(event(run_id=run_id)).startswith(
        "run_id: "
        + ("required field is missing; expected " if run_id is None else "expected ")
        + "a string of 1–128 characters"
    )


def test_seq_is_optional():
    assert validate_event(event(seq=None)).seq is None


@pytest.mark.parametrize("seq", [0, 2**63 - 1])
def test_seq_accepts_the_whole_range(seq):
    assert validate_event(event(seq=seq)).seq == seq


@pytest.mark.parametrize(
    ("seq", "found"),
    [(-1, "number -1"), (2**63, f"number {2**63}"), (True, "boolean true"), (1.5, "number 1.5")],
)
def test_seq_out_of_range_or_not_an_integer_is_rejected(seq, found):
    assert error_of(event(seq=seq)) == f"seq: expected a whole number from 0 to 2^63-1, got {found}"


def test_unknown_type_is_rejected_with_the_list_of_valid_types():
    assert error_of(event(type="foo")) == (
        "type: unknown event type 'foo'; valid types are: " + ", ".join(EVENT_TYPES)
    )


def test_type_that_is_not_a_string_is_rejected_with_the_list_of_valid_types():
    assert error_of(event(type=3)).startswith("type: expected a string, got number 3; valid types")


def test_missing_type_is_rejected_with_the_list_of_valid_types():
    assert error_of(event(type=None)).startswith("type: required field is missing; valid types")


def test_null_where_a_value_is_required_reads_as_null():
    obj = {**event(), "event_id": None}
    assert error_of(obj) == "event_id: expected a string of 1–64 characters, got null"


def test_object_keys_must_be_strings_when_validating_python_objects():
    assert error_of(with_data("run_end", outputs={1: "one"})) == (
        "data.outputs.1: object keys must be strings, got int"
    )


def test_unknown_top_level_keys_are_ignored():
    assert validate_event(event(extra={"x": 1}, sdk="charm")).event_id == "ev-tool_start"


def test_agent_is_required_on_run_start():
    assert error_of(event("run_start", agent=None)).startswith(
        "agent: required on run_start events; expected an object"
    )


def test_agent_is_optional_on_other_events():
    parsed = validate_event(event(agent=None))
    assert (parsed.agent_name, parsed.agent_version) == (None, None)


def test_agent_version_is_optional():
    parsed = validate_event(event(agent={"name": "invoice-bot"}))
    assert (parsed.agent_name, parsed.agent_version) == ("invoice-bot", None)


@pytest.mark.parametrize(
    ("agent", "message"),
    [
        ("invoice-bot", 'agent: expected an object like {"name": "invoice-bot"}, got string'),
        ({}, "agent.name: required field is missing; expected a string of 1–200 characters"),
        ({"name": "n" * 201}, "agent.name: expected a string of 1–200 characters, got string"),
        ({"name": "a", "version": 1}, "agent.version: expected a string of at most 100"),
        ({"name": "a", "version": "v" * 101}, "agent.version: expected a string of at most 100"),
    ],
)
def test_invalid_agent_is_rejected_with_the_field_path(agent, message):
    assert error_of(event(agent=agent)).startswith(message)


def test_data_must_be_an_object():
    assert error_of(event(data=["x"])) == "data: expected an object, got array"


def test_missing_data_means_an_empty_object_where_the_type_allows_it():
    assert validate_event(event("run_end", data=None)).data == {"outputs": None, "format": None}


def test_missing_data_names_the_first_required_field():
    assert error_of(event(data=None)) == (
        "data.tool_name: required field is missing; expected a string of 1–200 characters"
    )


def test_event_over_the_size_limit_is_refused_by_validate_event():
    error = error_of(with_data("log", message="x" * MAX_EVENT_BYTES))
    assert error.startswith("event is 1,048,") and error.endswith("; the limit is 1,048,576")


def test_validate_event_refuses_values_that_are_not_json():
    assert error_of(with_data("run_end", outputs={1, 2})) == (
        "data.outputs: expected a JSON value, got set"
    )


# Timestamps ----------------------------------------------------------------------------------


def ts_of(value: object) -> datetime:
    return validate_event(event(ts=value)).ts


def test_utc_timestamp_with_z_is_read_to_the_microsecond():
    moment = NOW - timedelta(hours=1)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + ".123456Z"
    assert ts_of(text) == moment.replace(microsecond=123456)
    assert ts_of(text).tzinfo is UTC


def test_timestamp_with_an_offset_is_converted_to_utc():
    moment = NOW - timedelta(hours=1)
    local = moment.astimezone(UTC).replace(tzinfo=None) + timedelta(hours=2)
    assert ts_of(local.isoformat() + "+02:00") == moment
    assert ts_of(local.isoformat() + "+02:00").tzinfo is UTC


def test_fractional_seconds_beyond_microseconds_are_truncated():
    text = (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S") + ".123456999Z"
    assert ts_of(text).microsecond == 123456


def test_lowercase_t_and_z_are_accepted():
    text = (NOW - timedelta(hours=1)).strftime("%Y-%m-%dt%H:%M:%Sz")
    assert ts_of(text) == NOW - timedelta(hours=1)


def test_timestamp_without_an_offset_is_rejected():
    text = (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert error_of(event(ts=text)) == (
        f"ts: '{text}' has no UTC offset; end it with 'Z' or an offset like '+02:00'"
    )


@pytest.mark.parametrize("text", ["2026-11-25", "yesterday", "2026-11-25T11:24Z", ""])
def test_timestamp_that_is_not_rfc_3339_is_rejected(text):
    assert error_of(event(ts=text)).startswith(
        'ts: expected an RFC 3339 timestamp like "2026-11-25T11:24:41.123456Z", got'
    )


def test_impossible_date_is_rejected_with_the_reason():
    assert error_of(event(ts="2026-13-01T00:00:00Z")).endswith("(month must be in 1..12)")


def test_unix_epoch_seconds_are_accepted_as_int_or_float():
    moment = NOW - timedelta(hours=1)
    assert ts_of(int(moment.timestamp())) == moment
    assert ts_of(moment.timestamp() + 0.25) == moment + timedelta(milliseconds=250)


@pytest.mark.parametrize(
    ("value", "found"), [(True, "got boolean true"), ({"s": 1}, "got object"), (None, "missing")]
)
def test_timestamp_of_another_type_or_missing_is_rejected(value, found):
    message = error_of(event(ts=value))  # None drops the field
    assert message.startswith("ts: ")
    assert (
        'an RFC 3339 timestamp like "2026-11-25T11:24:41.123456Z" or Unix epoch seconds' in message
    )
    assert found in message


def test_timestamp_before_2000_is_rejected():
    assert error_of(event(ts="1999-12-31T23:59:59Z")) == (
        "ts: 1999-12-31T23:59:59.000000Z is before 2000-01-01; check the emitter's clock"
    )
    assert "is before 2000-01-01" in error_of(event(ts=0))


def test_timestamp_more_than_a_day_ahead_is_rejected():
    ahead = (datetime.now(UTC) + timedelta(hours=25)).isoformat()
    assert "is more than 24 hours ahead of the server's clock" in error_of(event(ts=ahead))


def test_timestamp_less_than_a_day_ahead_is_accepted():
    ahead = datetime.now(UTC) + timedelta(hours=23)
    assert ts_of(ahead.isoformat()) == ahead


def test_epoch_in_milliseconds_is_rejected_with_a_hint():
    millis = int((NOW - timedelta(hours=1)).timestamp() * 1000)
    assert error_of(event(ts=millis)).endswith(
        "is too large for Unix epoch seconds; it looks like milliseconds: send seconds "
        "(divide by 1,000)"
    )


def test_epoch_seconds_more_than_a_day_ahead_are_rejected():
    ahead = datetime.now(UTC).timestamp() + 2 * 86400
    assert error_of(event(ts=ahead)).endswith(
        "seconds since 1970 is more than 24 hours ahead of the server's clock; "
        "check the emitter's clock"
    )


def test_future_is_measured_from_received_at():
    received_at = NOW - timedelta(days=3)
    result = parse_body(
        ndjson(event()), content_type="application/x-ndjson", received_at=received_at
    )
    assert "more than 24 hours ahead" in result.rejected[0].error


# Type-specific data --------------------------------------------------------------------------


def data_of(event_type: str, **data: object) -> dict:
    return validate_event(with_data(event_type, **data)).data


def data_error(event_type: str, **data: object) -> str:
    return error_of(with_data(event_type, **data))


def test_run_start_data_is_normalized_with_defaults():
    assert validate_event(event("run_start", data={})).data == {
        "inputs": None,
        "environment": "cloud",
        "runtime": {},
        "config": {"required_env": [], "oauth": []},
        "thread_id": None,
    }


def test_run_start_keeps_inputs_environment_runtime_and_declared_names():
    data = data_of(
        "run_start",
        environment="local",
        runtime={"python": "3.11.7", "image": "charm:1.4"},
        config={"required_env": ["OPENAI_API_KEY"], "oauth": ["google"], "token": "secret"},
        unknown="dropped",
    )
    assert data == {
        "inputs": {"invoice": 981},
        "environment": "local",
        "runtime": {"python": "3.11.7", "image": "charm:1.4"},
        "config": {"required_env": ["OPENAI_API_KEY"], "oauth": ["google"]},
        "thread_id": None,
    }


def test_run_start_environment_must_be_local_cloud_or_docker():
    assert data_error("run_start", environment="k8s") == (
        'data.environment: expected one of local, cloud, docker, got string "k8s"'
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"required_env": "KEY"}, "data.config.required_env: expected an array of names, got"),
        ({"oauth": ["google", 3]}, "data.config.oauth[1]: expected a name"),
        ([], "data.config: expected an object, got array"),
    ],
)
def test_run_start_config_must_hold_lists_of_names(config, message):
    assert data_error("run_start", config=config).startswith(message)


def test_run_start_config_with_an_env_value_is_rejected_without_echoing_it():
    error = data_error("run_start", config={"required_env": ["OPENAI_API_KEY=sk-live-123"]})
    assert error.startswith("data.config.required_env[0]: expected an environment variable name")
    assert "send names only, never values" in error
    assert "sk-live" not in error


def test_run_start_runtime_must_be_an_object():
    assert data_error("run_start", runtime="py3.11").startswith("data.runtime: expected an object")


def test_run_end_keeps_outputs_of_any_json_type():
    assert data_of("run_end", outputs=[1, "two"]) == {"outputs": [1, "two"], "format": None}


def test_run_end_format_says_how_to_show_the_outputs():
    assert data_of("run_end", format="json")["format"] == "json"
    assert data_error("run_end", format="html") == (
        'data.format: expected one of markdown, json, rich_component, text, got string "html"'
    )


def test_error_data_is_normalized():
    assert data_of("error") == {
        "error": {"type": "KeyError", "message": "'OPENAI_API_KEY'", "traceback": None}
    }


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (None, "data.error: required field is missing; expected an object like"),
        ({"message": "x"}, "data.error.type: required field is missing"),
        ({"type": "", "message": "x"}, "data.error.type: expected a string of 1–200 characters"),
        ({"type": "E"}, "data.error.message: required field is missing; expected a string"),
        ({"type": "E", "message": "x", "traceback": 1}, "data.error.traceback: expected a string"),
    ],
)
def test_error_needs_a_type_and_a_message(error, message):
    assert data_error("error", error=error).startswith(message)


def test_error_message_may_be_empty_and_traceback_is_kept():
    error = {"type": "SystemExit", "message": "", "traceback": "Traceback ..."}
    assert data_of("error", error=error)["error"] == error


def test_tool_start_input_str_defaults_to_empty():
    assert data_of("tool_start", input_str=None, span_id=None) == {
        "tool_name": "search",
        "input_str": "",
        "span_id": None,
    }


def test_tool_start_input_that_is_not_a_string_is_kept_json_encoded():
    assert data_of("tool_start", input_str={"q": "café"})["input_str"] == '{"q": "café"}'


def test_tool_name_is_required():
    assert data_error("tool_end", tool_name=None).startswith(
        "data.tool_name: required field is missing"
    )


def test_span_id_longer_than_128_characters_is_rejected():
    assert data_error("tool_start", span_id="s" * 129).startswith(
        "data.span_id: expected a string of at most 128 characters"
    )


def test_tool_end_keeps_output_as_is():
    assert data_of("tool_end", output=[{"id": 1}]) == {
        "tool_name": "search",
        "output": [{"id": 1}],
        "span_id": "t1",
    }


def test_tool_error_needs_an_error_object():
    assert data_of("tool_error")["error"] == {
        "type": "Timeout",
        "message": "slow",
        "traceback": None,
    }
    assert data_error("tool_error", error="boom").startswith(
        'data.error: expected an object like {"type": "KeyError", "message": "..."}, got string'
    )


def test_llm_new_token_may_be_empty():
    assert data_of("llm_new_token", token="", model=None) == {
        "token": "",
        "model": None,
        "call_id": "c1",
    }


def test_llm_new_token_needs_a_token_string():
    assert data_error("llm_new_token", token=None).startswith("data.token: required field")
    assert data_error("llm_new_token", token=5) == "data.token: expected a string, got number 5"


def test_agent_action_needs_a_tool_and_keeps_any_tool_input():
    assert data_of("agent_action", tool_input="q") == {"tool": "search", "tool_input": "q"}
    assert data_error("agent_action", tool=None).startswith("data.tool: required field")


def test_status_must_be_a_known_run_status():
    assert data_of("status", message=None) == {
        "status": "validating",
        "message": None,
        "thread_id": None,
        "next_step": None,
    }
    assert data_error("status", status="done") == (
        "data.status: expected one of queued, running, succeeded, failed, cancelled, "
        'timed_out, validating, validation_failed, suspended, got string "done"'
    )


def test_a_suspended_status_carries_its_thread_and_next_step():
    data = data_of("status", status="suspended", thread_id="t-9", next_step="approve the refund")
    assert (data["status"], data["thread_id"], data["next_step"]) == (
        "suspended",
        "t-9",
        "approve the refund",
    )


def test_process_exit_needs_a_whole_exit_code():
    assert data_of("process_exit") == {"exit_code": 137, "duration_ms": 5400}
    assert data_error("process_exit", exit_code="137") == (
        'data.exit_code: expected a whole number (the process\'s exit status), got string "137"'
    )


def test_tool_usage_counts_at_least_one_use():
    assert data_of("tool_usage", count=None) == {"tool": "search", "count": 1}
    assert data_error("tool_usage", count=0).startswith("data.count: expected a whole number")


def test_terminal_statuses_are_the_final_ones():
    assert sorted(TERMINAL_STATUSES) == [
        "cancelled",
        "failed",
        "succeeded",
        "timed_out",
        "validation_failed",
    ]


def test_log_defaults_to_info_on_stdout():
    assert data_of("log", level=None) == {
        "message": "fetched 3 invoices",
        "level": "info",
        "stream": "stdout",
        "logger": None,
    }


@pytest.mark.parametrize(
    ("level", "normalized"), [("WARN", "warning"), ("warn", "warning"), ("Error", "error")]
)
def test_log_level_is_case_insensitive_and_warn_means_warning(level, normalized):
    assert data_of("log", level=level)["level"] == normalized


def test_log_level_and_stream_must_be_known():
    assert data_error("log", level="loud").startswith(
        "data.level: expected one of debug, info, warning, error, critical"
    )
    assert data_error("log", stream="tty").startswith("data.stream: expected one of stdout, stderr")


def test_log_needs_a_message():
    assert data_error("log", message=None).startswith("data.message: required field is missing")


def test_usage_cache_tokens_default_to_zero():
    assert data_of("usage") == {
        "model": "gpt-4o",
        "input_tokens": 1200,
        "output_tokens": 340,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "call_id": None,
    }


@pytest.mark.parametrize(
    ("field", "value", "found"),
    [
        ("input_tokens", None, "required field is missing"),
        ("output_tokens", -1, "got number -1"),
        ("input_tokens", 12.0, "got number 12.0"),
        ("cache_read_tokens", True, "got boolean true"),
        ("cache_write_tokens", "5", 'got string "5"'),
    ],
)
def test_usage_token_counts_must_be_whole_numbers_from_zero(field, value, found):
    error = data_error("usage", **{field: value})
    assert error.startswith(f"data.{field}: ")
    assert "a whole number from 0 to 2^63-1" in error
    assert found in error


def test_usage_needs_a_model():
    assert data_error("usage", model=None).startswith("data.model: required field is missing")


def test_revenue_data_is_normalized():
    assert data_of("revenue", currency="eur", customer="cus_1", metadata={"plan": "pro"}) == {
        "kind": "charge",
        "amount": "12.50",
        "currency": "EUR",
        "customer": "cus_1",
        "external_id": None,
        "refund_of": None,
        "metadata": {"plan": "pro"},
    }


@pytest.mark.parametrize(
    ("amount", "currency", "normalized"),
    [
        ("0012.50", "USD", "12.50"),
        ("7", "USD", "7.00"),
        ("0.01", "USD", "0.01"),
        ("12.500000", "USD", "12.50"),
        ("1234", "JPY", "1234"),
        ("1234.00", "JPY", "1234"),
        ("1.5", "KWD", "1.500"),
        ("0.0001", "CLF", "0.0001"),
    ],
)
def test_revenue_amount_is_kept_in_the_currencys_minor_units(amount, currency, normalized):
    assert data_of("revenue", amount=amount, currency=currency)["amount"] == normalized


def test_revenue_amount_as_a_number_is_rejected_with_advice_to_send_a_string():
    assert data_error("revenue", amount=12.5) == (
        'data.amount: expected a decimal string like "12.50", got number 12.5; '
        "send amounts as strings: JSON numbers are read as binary floats and lose cents"
    )


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("1.1234567", 'data.amount: expected at most 6 decimal places, got "1.1234567"'),
        ("1000000000000", 'data.amount: expected less than 10^12, got "1000000000000"'),
        ("-5.00", 'data.amount: expected an amount of zero or more, got "-5.00"'),
        ("NaN", 'data.amount: expected a decimal string like "12.50", got string "NaN"'),
        ("1e3", 'data.amount: expected a decimal string like "12.50", got string "1e3"'),
        ("1,000.00", 'data.amount: expected a decimal string like "12.50", got string'),
        (None, "data.amount: required field is missing; expected a decimal string"),
    ],
)
def test_revenue_amount_must_be_a_plain_bounded_decimal(amount, message):
    assert data_error("revenue", amount=amount).startswith(message)


def test_revenue_amount_just_under_the_bound_is_accepted():
    assert data_of("revenue", amount="999999999999.99")["amount"] == "999999999999.99"


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("12.5", "JPY", 'data.amount: JPY has no minor units; got "12.5"'),
        ("1.01", "jpy", 'data.amount: JPY has no minor units; got "1.01"'),
        (
            "12.345",
            "USD",
            'data.amount: USD has 2 decimal places (ISO 4217 minor units); got "12.345"',
        ),
        (
            "0.000001",
            "EUR",
            'data.amount: EUR has 2 decimal places (ISO 4217 minor units); got "0.000001"',
        ),
        (
            "1.5001",
            "KWD",
            'data.amount: KWD has 3 decimal places (ISO 4217 minor units); got "1.5001"',
        ),
    ],
)
def test_revenue_amount_with_more_decimals_than_the_currency_has_is_rejected(
    amount, currency, message
):
    assert data_error("revenue", amount=amount, currency=currency) == message


@pytest.mark.parametrize("currency", ["XXQ", "ABC", "US", "USDT", "U$D", 840, "ÉUR"])
def test_revenue_currency_must_be_an_iso_4217_code(currency):
    assert data_error("revenue", currency=currency).startswith(
        'data.currency: expected an ISO 4217 currency code like "USD", got '
    )


@pytest.mark.parametrize("currency", ["XAU", "XTS", "XXX", "xdr"])
def test_revenue_currency_that_is_not_money_is_rejected_with_the_reason(currency):
    assert data_error("revenue", currency=currency).startswith(
        f"data.currency: {currency.upper()} is an ISO 4217 code with no minor units"
    )


@pytest.mark.parametrize("currency", ["USD", "eur", "Jpy", "KWD", "CHF", "INR", "CLF", "UYW"])
def test_revenue_currency_in_iso_4217_is_taken_in_any_case(currency):
    assert data_of("revenue", amount="1", currency=currency)["currency"] == currency.upper()


def test_revenue_kind_must_be_known():
    assert data_error("revenue", kind="tip").startswith(
        "data.kind: expected one of charge, refund, credit, payout, subscription"
    )


def test_revenue_refund_keeps_the_charge_it_reverses():
    data = data_of("revenue", kind="refund", external_id="re_1", refund_of="ch_1")
    assert (data["kind"], data["external_id"], data["refund_of"]) == ("refund", "re_1", "ch_1")


def test_revenue_optional_fields_are_checked():
    assert data_error("revenue", customer="c" * 201).startswith(
        "data.customer: expected a string of at most 200 characters"
    )
    assert data_error("revenue", metadata=[1]) == "data.metadata: expected an object, got array"


def test_unknown_data_keys_are_dropped_for_every_type():
    for event_type in EVENT_TYPES:
        data = data_of(event_type, surprise=1)
        assert "surprise" not in data, event_type


# Storage format ------------------------------------------------------------------------------


def test_event_to_dict_is_protocol_json_with_a_utc_microsecond_timestamp():
    parsed = validate_event(event(ts=(NOW - timedelta(hours=1)).isoformat()))
    d = event_to_dict(parsed)
    assert d["ts"] == (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    assert d == {
        "v": 1,
        "event_id": "ev-tool_start",
        "run_id": "run_8f2a",
        "seq": 4,
        "ts": d["ts"],
        "type": "tool_start",
        "agent": {"name": "invoice-bot", "version": "1.4.0"},
        "data": {"tool_name": "search", "input_str": "overdue invoices", "span_id": "t1"},
    }
    assert json.loads(json.dumps(d)) == d


def test_event_to_dict_leaves_out_what_the_event_does_not_have():
    d = event_to_dict(validate_event(event(seq=None, agent=None)))
    assert "seq" not in d
    assert "agent" not in d


def test_event_to_dict_converts_a_non_utc_timestamp():
    parsed = validate_event(event())
    moved = msgspec.structs.replace(parsed, ts=parsed.ts.astimezone(timezone(timedelta(hours=-5))))
    assert event_to_dict(moved)["ts"] == event_to_dict(parsed)["ts"]


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_survives_a_round_trip_through_its_dict(event_type):
    parsed = validate_event(event(event_type))
    assert event_from_dict(event_to_dict(parsed)) == parsed
    assert event_from_dict(json.loads(json.dumps(event_to_dict(parsed)))) == parsed


def test_round_trip_keeps_events_without_seq_or_agent():
    parsed = validate_event(event(seq=None, agent={"name": "bot"}))
    assert event_from_dict(event_to_dict(parsed)) == parsed
    bare = validate_event(event(seq=None, agent=None))
    assert event_from_dict(event_to_dict(bare)) == bare


def test_dumps_and_loads_events_round_trip_a_batch():
    events = parse(ndjson(*(event(t, event_id=t) for t in EVENT_TYPES))).events
    text = dumps_events(events)
    assert loads_events(text) == events
    assert ", " not in text and '": ' not in text  # compact


def test_dumped_batch_is_valid_protocol_input():
    events = parse(ndjson(event(), with_data("log", message="café ☕"))).events
    assert parse(dumps_events(events).encode(), "application/json").events == events


def test_received_at_must_be_timezone_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_body(b"x", content_type="text/plain", run_id="r", received_at=datetime(2026, 1, 1))


def test_run_start_keeps_the_thread_it_continues():
    assert data_of("run_start", thread_id="session-7")["thread_id"] == "session-7"


def test_a_whole_llm_call_is_normalized_with_zero_counts_and_its_start():
    data = data_of("llm_call", input_tokens=None, output_tokens=None, attributes={"k": 1})
    assert (data["input_tokens"], data["output_tokens"], data["cache_read_tokens"]) == (0, 0, 0)
    assert datetime.fromisoformat(data["started_at"]) == datetime.fromisoformat(TS)
    assert data["attributes"] == {"k": 1}
    assert data["error"] is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"started_at": "yesterday"}, "data.started_at"),
        ({"started_at": 5}, "data.started_at: expected an RFC 3339 timestamp"),
        ({"output": ["a"]}, "data.output: expected the answer's text"),
        ({"model": ""}, "data.model"),
        ({"input_tokens": -1}, "data.input_tokens"),
        ({"attributes": [1]}, "data.attributes"),
    ],
)
def test_a_bad_llm_call_names_its_field(data, message):
    assert message in data_error("llm_call", **data)
