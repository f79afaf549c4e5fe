"""The typed fast path (runs.protocol.schema) and the field checks (runs.protocol.events)
give the same answers: whatever the fast path takes, it takes as the checks would."""

import json
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.ingest_e2e import mixed_events
from runs.protocol.body import parse_body
from runs.protocol.events import _event
from runs.protocol.schema import fast_event
from runs.protocol.types import EventError, _Context

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


def slow(obj: object, ctx: _Context):
    try:
        return _event(obj, ctx)
    except EventError as error:
        return str(error)


def test_every_event_of_a_live_agent_takes_the_fast_path_and_matches_the_checks():
    ctx = _Context.at(NOW)
    events = mixed_events(20)
    for event in events:
        event["ts"] = (NOW - timedelta(minutes=5)).isoformat()
    assert {e["type"] for e in events} >= {"run_start", "tool_start", "llm_new_token", "log"}
    for event in events:
        fast = fast_event(json.dumps(event), ctx)
        assert fast is not None, event["type"]
        assert fast == slow(event, ctx)


def test_a_body_of_good_and_bad_lines_keeps_every_good_one_and_says_why_of_the_rest():
    good = {"event_id": "e1", "run_id": "r", "ts": "2026-12-07T11:00:00Z", "type": "log",
            "data": {"message": "hi", "level": "WARN"}}  # fmt: skip
    bad_level = dict(good, event_id="e2", data={"message": "hi", "level": "loud"})
    no_agent = {"event_id": "e3", "run_id": "r", "ts": 1.79e9, "type": "run_start", "data": {}}
    body = "\n".join(json.dumps(e) for e in (good, bad_level, no_agent)).encode()

    result = parse_body(body, content_type="application/x-ndjson", received_at=NOW)

    assert [(e.event_id, e.data["level"]) for e in result.events] == [("e1", "warning")]
    assert [(r.index, r.error.split(":")[0]) for r in result.rejected] == [
        (1, "data.level"), (2, "agent"),
    ]  # fmt: skip


# Values near every field's edges: right and wrong types, empty, at and past lengths.
_text = st.one_of(
    st.sampled_from(["", "a", "x" * 64, "x" * 65, "x" * 128, "x" * 129, "x" * 200, "x" * 201]),
    st.text(max_size=12),
)
_value = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**64), 2**64), st.floats(allow_nan=False),
    _text, st.lists(st.integers(), max_size=3), st.dictionaries(_text, st.integers(), max_size=3),
)  # fmt: skip
_word = st.sampled_from([
    "cloud", "local", "docker", "prod", "stdout", "stderr", "info", "WARN", "Error", "loud",
    "running", "succeeded", "suspended", "json", "markdown", "gpt-4o", "A=1", "KEY",
    "charge", "refund", "USD", "jpy", "XXQ", "XAU", "12.5", "12.50", "-1", "0007", "1.1234567",
    "2026-12-07T10:00:00Z", "2026-12-07T10:00:00",
])  # fmt: skip
_field = st.one_of(_value, _word)
_data_keys = st.sampled_from([
    "inputs", "environment", "runtime", "config", "thread_id", "outputs", "format", "error",
    "tool_name", "input_str", "span_id", "attributes", "output", "token", "model", "call_id",
    "tool", "tool_input", "status", "message", "next_step", "level", "stream", "logger",
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "name", "url",
    "mime", "state", "kind", "amount", "currency", "customer", "external_id", "refund_of",
    "metadata", "started_at", "input", "count", "exit_code", "duration_ms", "lines",
])  # fmt: skip
_nested = st.one_of(
    _field,
    st.fixed_dictionaries({}, optional={"type": _field, "message": _field, "traceback": _field}),
    st.fixed_dictionaries({}, optional={"required_env": st.lists(_field, max_size=3),
                                        "oauth": st.lists(_field, max_size=3)}),
)  # fmt: skip
_types = st.sampled_from([
    "run_start", "run_end", "error", "tool_start", "tool_end", "tool_error", "llm_new_token",
    "agent_action", "status", "log", "usage", "artifact", "state_update", "revenue", "nope",
])  # fmt: skip
_ts = st.one_of(
    st.sampled_from(["2026-12-07T11:00:00Z", "2026-12-07T11:00:00+02:00", "2026-12-07T11:00:00",
                     "2026-12-07 11:00:00.1234567z", "1999-12-31T23:59:59Z", "2027-01-01T00:00:00Z",
                     "yesterday"]),
    st.integers(0, 2 * 10**9), st.floats(0, 3e9), st.none(), st.booleans(),
)  # fmt: skip


_VALID_DATA = {
    "run_start": {"inputs": {"q": 1}, "environment": "local", "config": {"required_env": ["K"]}},
    "run_end": {"outputs": "done", "format": "markdown"},
    "error": {"error": {"type": "KeyError", "message": "k", "traceback": "T"}},
    "tool_start": {"tool_name": "search", "input_str": "q", "span_id": "s1"},
    "tool_end": {"tool_name": "search", "output": [1], "span_id": "s1"},
    "tool_error": {"tool_name": "search", "error": {"type": "E", "message": "m"}},
    "llm_new_token": {"token": "Hel", "model": "gpt-4o", "call_id": "c1"},
    "agent_action": {"tool": "search", "tool_input": {"q": 1}},
    "status": {"status": "running", "message": "working"},
    "log": {"message": "hi", "level": "info", "stream": "stderr", "logger": "app"},
    "usage": {"model": "gpt-4o", "input_tokens": 10, "output_tokens": 2},
    "artifact": {"name": "report.pdf", "url": "https://x", "mime": "application/pdf"},
    "state_update": {"state": {"step": 2}},
    "revenue": {"kind": "charge", "amount": "1.00", "currency": "USD", "customer": "c"},
    "llm_call": {
        "call_id": "c1",
        "model": "gpt-4o",
        "started_at": "2026-12-07T10:59:59Z",
        "input": [{"role": "user", "content": "hi"}],
        "output": "yo",
        "input_tokens": 3,
        "output_tokens": 1,
        "error": None,
    },
    "tool_usage": {"tool": "geocode", "count": 2},
    "process_exit": {"exit_code": 137, "duration_ms": 1200},
    "stream_end": {"lines": 40},
}


@st.composite
def near_events(draw) -> dict:
    """A valid event of a type, with a few of its fields changed, removed or added."""
    type_ = draw(st.sampled_from([*_VALID_DATA, "nope"]))
    event = {
        "v": 1, "event_id": "e1", "run_id": "r1", "ts": "2026-12-07T11:00:00Z", "seq": 3,
        "type": type_, "agent": {"name": "bot", "version": "1"},
        "data": dict(_VALID_DATA.get(type_, {})),
    }  # fmt: skip
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from(["envelope", "data", "data", "data", "agent"]))
        if where == "envelope":
            key = draw(st.sampled_from(["v", "event_id", "run_id", "ts", "seq", "type", "data"]))
            target, values = event, (_ts if key == "ts" else _field)
        elif where == "agent" and isinstance(event.get("agent"), dict):
            key, target, values = draw(st.sampled_from(["name", "version"])), event["agent"], _field
        elif isinstance(event.get("data"), dict):
            key, target, values = draw(_data_keys), event["data"], _nested
        else:
            continue
        if draw(st.integers(0, 3)) == 0:
            target.pop(key, None)
        else:
            target[key] = draw(values)
    if draw(st.integers(0, 9)) == 0:
        event.pop("agent")
    return event


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_events(), st.sampled_from([None, "header-run"]))
def test_what_the_fast_path_takes_the_checks_take_the_same_way(event, header_run_id):
    ctx = _Context.at(NOW, header_run_id)
    fast = fast_event(json.dumps(event), ctx)
    if fast is not None:
        assert fast == slow(event, ctx)
