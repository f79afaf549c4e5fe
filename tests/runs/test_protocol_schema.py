"""The protocol's Structs (runs.protocol.schema) are its one definition: what they refuse
is told at the field that is wrong, in the words of that field's constraints, and what
the served OpenAPI schema takes they take."""

import copy
import json
import re
from datetime import UTC, datetime, timedelta

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.ingest_e2e import mixed_events
from runs.openapi import DOCUMENT
from runs.protocol.body import parse_body
from runs.protocol.describe import _describe
from runs.protocol.schema import _EVENTS, line_event, object_event
from runs.protocol.types import EventError, _Context
from tests.api.test_openapi import problems, schema_validator

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
MISSING = object()


def answer(obj: object, ctx: _Context):
    try:
        return object_event(obj, ctx)
    except EventError as error:
        return str(error)


def test_every_event_of_a_live_agent_is_the_same_from_its_line_and_its_object():
    ctx = _Context.at(NOW)
    events = mixed_events(20)
    for event in events:
        event["ts"] = (NOW - timedelta(minutes=5)).isoformat()
    assert {e["type"] for e in events} >= {"run_start", "tool_start", "llm_new_token", "log"}
    for event in events:
        from_line = line_event(json.dumps(event), ctx)
        assert from_line is not None, event["type"]
        assert from_line == answer(event, ctx)


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


_VALID_DATA = {
    "run_start": {"inputs": {"q": 1}, "environment": "local",
                  "config": {"required_env": ["K"], "oauth": ["github"]}},
    "run_end": {"outputs": "done", "format": "markdown"},
    "error": {"error": {"type": "KeyError", "message": "k", "traceback": "T"}},
    "tool_start": {"tool_name": "search", "input_str": "q", "span_id": "s1"},
    "tool_end": {"tool_name": "search", "output": [1], "span_id": "s1"},
    "tool_error": {"tool_name": "search", "error": {"type": "E", "message": "m"}},
    "llm_new_token": {"token": "Hel", "model": "gpt-4o", "call_id": "c1"},
    "llm_call": {"call_id": "c1", "model": "gpt-4o", "started_at": "2026-12-07T10:59:59Z",
                 "input": [{"role": "user", "content": "hi"}], "output": "yo",
                 "input_tokens": 3, "output_tokens": 1, "error": {"type": "E", "message": ""}},
    "agent_action": {"tool": "search", "tool_input": {"q": 1}},
    "status": {"status": "running", "message": "working"},
    "log": {"message": "hi", "level": "info", "stream": "stderr", "logger": "app"},
    "usage": {"model": "gpt-4o", "input_tokens": 10, "output_tokens": 2},
    "revenue": {"kind": "charge", "amount": "1.00", "currency": "USD", "customer": "c"},
    "artifact": {"name": "report.pdf", "url": "https://x", "mime": "application/pdf"},
    "tool_usage": {"tool": "geocode", "count": 2},
    "state_update": {"state": {"step": 2}},
    "process_exit": {"exit_code": 137, "duration_ms": 1200},
    "stream_end": {"lines": 40},
}  # fmt: skip


def valid_event(event_type: str) -> dict:
    return {
        "v": 1, "event_id": "e1", "run_id": "r1", "ts": "2026-12-07T11:00:00Z", "seq": 3,
        "type": event_type, "agent": {"name": "bot", "version": "1"},
        "data": copy.deepcopy(_VALID_DATA[event_type]),
    }  # fmt: skip


def test_every_type_has_a_valid_event_here():
    assert set(_VALID_DATA) == set(_EVENTS)
    for event_type in _EVENTS:
        assert not isinstance(answer(valid_event(event_type), _Context.at(NOW)), str)


# Any change to a valid event is taken, or refused naming a field that was changed ---------

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
    "2026-12-07T10:00:00Z", "2026-12-07T10:00:00", "log", "usage",
])  # fmt: skip
_field = st.one_of(_value, _word)
_ts = st.one_of(
    st.sampled_from(["2026-12-07T11:00:00Z", "2026-12-07T11:00:00+02:00", "2026-12-07T11:00:00",
                     "2026-12-07 11:00:00.1234567z", "1999-12-31T23:59:59Z", "2027-01-01T00:00:00Z",
                     "yesterday"]),
    st.integers(0, 2 * 10**9), st.floats(0, 3e9), st.none(), st.booleans(),
)  # fmt: skip
_DATA_KEYS = sorted({key for data in _VALID_DATA.values() for key in data} | {"attributes"})
_NESTED = [("data", "error", "type"), ("data", "error", "message"), ("data", "error", "traceback"),
           ("data", "config", "required_env", 0), ("data", "config", "oauth", 0),
           ("agent", "name"), ("agent", "version")]  # fmt: skip
_ENVELOPE = ["v", "event_id", "run_id", "ts", "seq", "type", "agent", "data"]
_STEP = re.compile(r"([^.\[]+)|\[(\d+)\]")


def at(obj: object, path: tuple) -> object:
    for step in path:
        if isinstance(obj, dict) and type(step) is str:
            obj = obj.get(step, MISSING)
        elif isinstance(obj, list) and type(step) is int and step < len(obj):
            obj = obj[step]
        else:
            return MISSING
    return obj


def steps_of(path: str) -> tuple:
    return tuple(name or int(index) for name, index in _STEP.findall(path))


def under(path: tuple, changed: tuple) -> bool:
    """Whether `path` is the changed field or inside it (a changed object's own field)."""
    return path[: len(changed)] == changed


@st.composite
def changed_events(draw) -> tuple[dict, list[tuple]]:
    """A valid event with one to three of its fields changed or removed, and their paths."""
    event = valid_event(draw(st.sampled_from(sorted(_VALID_DATA))))
    changed = []
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.one_of(
            st.sampled_from(_ENVELOPE).map(lambda key: (key,)),
            st.sampled_from(_DATA_KEYS).map(lambda key: ("data", key)),
            st.sampled_from(_NESTED),
        ))  # fmt: skip
        parent = at(event, path[:-1])
        if not (type(parent) is dict and type(path[-1]) is str) and not (
            type(parent) is list and type(path[-1]) is int and path[-1] < len(parent)
        ):
            continue
        if isinstance(parent, dict) and draw(st.integers(0, 3)) == 0:
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = draw(_ts if path == ("ts",) else _field)
        changed.append(path)
    return event, changed


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changed_events(), st.sampled_from([None, "header-run"]))
def test_a_changed_event_is_taken_or_refused_at_a_field_that_was_changed(change, header_run_id):
    event, changed = change
    sent = copy.deepcopy(event)
    ctx = _Context.at(NOW, header_run_id)

    said = answer(event, ctx)

    assert event == sent, "validation must not change what it reads"
    from_line = line_event(json.dumps(event), ctx)
    if not isinstance(said, str):
        assert from_line in (said, None)  # None: a big number the line decoder reads apart
        return
    assert from_line is None
    path, _, words = said.partition(": ")
    where = steps_of(path)
    if ("type",) in changed and str(event.get("type")) in _EVENTS:
        changed += [("data",), ("agent",)]  # another type asks other things of them
    assert any(under(where, c) for c in changed), (said, changed)
    found = at(event, where)
    if found is MISSING:
        assert "required field is missing" in words or where == ("agent",), said
    elif ", got " in words and "containing '='" not in words:
        assert words.split(", got ", 1)[1].startswith(_describe(found)), said


# Each constraint of each Struct field is told in its own words ----------------------------


def constrained_fields(info, path: tuple):
    """(path, type info, extra) of every field under `info` with a constraint."""
    extra: dict = {}
    while True:
        if isinstance(info, mi.Metadata):
            extra = {**(info.extra or {}), **extra}
            info = info.type
        elif isinstance(info, mi.UnionType) and len(info.types) == 2:
            info = next(t for t in info.types if not isinstance(t, mi.NoneType))
        else:
            break
    if isinstance(info, mi.StructType):
        for field in info.fields:
            yield from constrained_fields(field.type, (*path, field.encode_name))
    elif isinstance(info, mi.ListType):
        yield from constrained_fields(info.item_type, (*path, 0))
    elif isinstance(info, mi.StrType):
        if info.min_length or info.max_length is not None or info.pattern:
            yield path, info, extra
    elif isinstance(info, mi.IntType):
        if info.ge is not None or info.le is not None:
            yield path, info, extra
    elif isinstance(info, mi.LiteralType):
        yield path, info, extra


def _number(n: int) -> str:
    return {2**63 - 1: "2^63-1", 10**9: "10^9"}.get(n, str(n))


def breaking_values(info) -> list[tuple[object, list[str]]]:
    """Values that break the constraint, each with the words its message must hold."""
    if isinstance(info, mi.StrType):
        values = []
        if info.max_length is not None:
            values.append(("x" * (info.max_length + 1), [f"{info.max_length} characters"]))
        if info.min_length:
            values.append(("", [f"{info.min_length}–"]))
        if info.pattern:
            values.append(("no=such!", []))
        return values
    if isinstance(info, mi.IntType):
        values = []
        if info.le is not None:
            values.append((info.le + 1, [f"to {_number(info.le)}"]))
        if info.ge is not None:
            values.append((info.ge - 1, [f"from {_number(info.ge)}"]))
        return values
    return [("nope", [str(choice) for choice in info.values])]


CONSTRAINED = [
    (event_type, path, info, extra)
    for event_type, cls in _EVENTS.items()
    for path, info, extra in constrained_fields(mi.type_info(cls), ())
    if path != ("type",)
]


def test_every_kind_of_constraint_is_covered():
    kinds = {type(info) for _, _, info, _ in CONSTRAINED}
    assert kinds == {mi.StrType, mi.IntType, mi.LiteralType}
    assert ("revenue", ("data", "amount")) in {(t, p) for t, p, _, _ in CONSTRAINED}


@pytest.mark.parametrize(("event_type", "path", "info", "extra"), CONSTRAINED)
def test_a_field_breaking_its_constraint_is_told_in_the_constraint_s_words(
    event_type, path, info, extra
):
    values = breaking_values(info)
    assert values, f"{event_type} {path}: no value breaks {info}"
    for value, words in values:
        event = valid_event(event_type)
        at(event, path[:-1])[path[-1]] = value

        said = answer(event, _Context.at(NOW))

        assert isinstance(said, str), (path, value)
        shown = "".join(f"[{s}]" if type(s) is int else f".{s}" for s in path)[1:]
        assert said.startswith(f"{shown}: "), said
        if extra.get("problem") and extra["problem"](value):
            continue  # the field's own rule explains what it found
        assert said.endswith(f", got {_describe(value)}"), said
        if "expected" in extra:
            assert f"expected {extra['expected']}, got" in said
        else:
            assert all(word in said for word in words), (said, words)


# What the served schema takes, the Structs take; what it refuses, they refuse -------------

COMPONENTS = DOCUMENT["components"]["schemas"]
VALIDATORS: dict = {}
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)  # fmt: skip


def from_schema(schema: dict) -> st.SearchStrategy:
    """Values the JSON Schema describes, mostly valid ones (no `allOf` is followed)."""
    if "$ref" in schema:
        return from_schema(COMPONENTS[schema["$ref"].rsplit("/", 1)[1]])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([from_schema(branch) for branch in schema[key]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([from_schema({**schema, "type": k}) for k in kind])
    if kind == "null":
        return st.none()
    if kind == "string":
        if "format" in schema:
            return st.sampled_from(schema["examples"])
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(
                lambda s: low <= len(s) <= (high or len(s))
            )
        return st.text(min_size=low, max_size=min(high or 20, 20)) | st.just("x" * (high or 1))
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**63)), schema.get("maximum", 2**63))
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {})), max_size=3)
    if kind == "object" and "properties" in schema:
        required = set(schema.get("required", ()))
        properties = {k: from_schema(v) for k, v in schema["properties"].items()}
        return st.fixed_dictionaries(
            {k: v for k, v in properties.items() if k in required},
            optional={k: v for k, v in properties.items() if k not in required},
        )
    if kind == "object":
        return st.dictionaries(st.text(max_size=5), _json, max_size=3)
    return _json


@st.composite
def schema_events(draw) -> dict:
    event_type = draw(st.sampled_from(sorted(_EVENTS)))
    name = "".join(part.title() for part in event_type.split("_")) + "Data"
    event = valid_event(event_type)
    event["data"] = draw(from_schema(COMPONENTS[name]))
    return event


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema_events())
def test_the_served_schema_and_the_structs_agree_on_events_made_from_the_schema(event):
    said = answer(event, _Context.at(NOW))

    name = "".join(part.title() for part in event["type"].split("_")) + "Event"
    found = problems(VALIDATORS.setdefault(name, schema_validator(name)), event)

    assert (found == []) is not isinstance(said, str), (said, found)


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(schema_events(), min_size=100, max_size=100))
def test_the_events_made_from_the_schema_are_mostly_valid(events):
    taken = [not isinstance(answer(event, _Context.at(NOW)), str) for event in events]
    assert sum(taken) > 50


def test_every_struct_field_is_in_the_served_schema():
    for event_type, cls in _EVENTS.items():
        data = next(f.type for f in msgspec.structs.fields(cls) if f.name == "data")
        name = "".join(part.title() for part in event_type.split("_")) + "Data"
        fields = [f.encode_name for f in msgspec.structs.fields(data)]
        assert list(COMPONENTS[name].get("properties", {})) == fields, event_type
