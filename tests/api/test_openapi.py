"""The OpenAPI document: valid OpenAPI 3.1, complete, and true of the real responses."""

import copy
import gzip
import json
import re
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from runs.demo import generate_demo_events, running_run_events
from runs.openapi import DOCUMENT, EVENT_DATA
from runs.protocol import EVENT_TYPES, EventError, validate_event
from studio.apikeys import apikey_create
from tests.api.test_read_api import a_detailed_run, a_run
from tests.conftest import T0, apply_now, ev

DOCUMENT_URI = "urn:charm-studio:openapi"
REGISTRY = Registry().with_resource(
    DOCUMENT_URI, Resource(contents=DOCUMENT, specification=DRAFT202012)
)
FORMATS = Draft202012Validator.FORMAT_CHECKER


def pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def validator_at(json_pointer: str) -> Draft202012Validator:
    """A validator for the schema at `json_pointer` inside the document, refs resolved."""
    return Draft202012Validator(
        {"$ref": f"{DOCUMENT_URI}#{json_pointer}"}, registry=REGISTRY, format_checker=FORMATS
    )


def schema_validator(name: str) -> Draft202012Validator:
    return validator_at(pointer("components", "schemas", name))


def problems(validator: Draft202012Validator, instance) -> list[str]:
    """Every way `instance` breaks the schema, each with where (best match first)."""
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in sorted(validator.iter_errors(instance), key=lambda e: e.path)
    ]


def documented_response(path: str, method: str, status: int) -> tuple[dict, str]:
    """The documented response (its $ref followed) and the JSON pointer to it."""
    responses = DOCUMENT["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} does not document {status}"
    response = responses[str(status)]
    where = pointer("paths", path, method, "responses", str(status))
    if "$ref" in response:
        where = response["$ref"].removeprefix("#")
        response = DOCUMENT["components"]["responses"][where.rsplit("/", 1)[1]]
    return response, where


def assert_documented(response, path: str, method: str = "get") -> dict:
    """Check a real response against the document: status, headers and JSON body."""
    documented, where = documented_response(path, method, response.status_code)
    for header in documented.get("headers", {}):
        assert response.has_header(header), f"{response.status_code} lacks {header}"
    assert response["Content-Type"] == "application/json"
    body = response.json()
    validator = validator_at(where + pointer("content", "application/json", "schema"))
    assert problems(validator, body) == []
    return body


def key(project, *scopes: str) -> Client:
    raw = apikey_create(project=project, scopes=list(scopes))[1]
    return Client(headers={"Authorization": f"Bearer {raw}"})


# The document itself --------------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1():
    validate(copy.deepcopy(DOCUMENT), cls=OpenAPIV31SpecValidator)
    assert DOCUMENT["openapi"].startswith("3.1.")


def test_every_component_schema_is_a_valid_json_schema():
    for name, schema in DOCUMENT["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)
        assert isinstance(schema_validator(name).is_valid({}), bool)  # its refs all resolve


def test_the_validator_checks_formats():
    assert not schema_validator("StatusChange").is_valid(
        {"status": "running", "message": "", "ts": "yesterday", "event_id": "e", "type": "status"}
    )


def test_the_document_is_served_to_anyone(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == json.loads(json.dumps(DOCUMENT))


def _api_routes(patterns, prefix: str = "") -> list[tuple[str, URLPattern]]:
    routes = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes += _api_routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            routes.append(("/" + route, pattern))
    return routes


def _as_openapi_path(route: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def test_every_api_url_is_documented_and_nothing_else():
    routes = {_as_openapi_path(r) for r, _ in _api_routes(get_resolver().url_patterns)}
    api_routes = {r for r in routes if r.startswith("/api/v1/")}

    assert api_routes == {p for p in DOCUMENT["paths"] if p.startswith("/api/v1/")}
    assert set(DOCUMENT["paths"]) - api_routes == {"/healthz", "/v1/traces"}
    assert {"/healthz", "/v1/traces"} <= routes


@pytest.mark.parametrize("path", sorted(DOCUMENT["paths"]))
def test_each_url_answers_only_its_documented_method(client, path):
    url = path.replace("{run_id}", "run_1")
    (method,) = DOCUMENT["paths"][path]
    other = {"get": client.post, "post": client.get}[method]

    assert other(url).status_code == 405


def test_every_operation_with_a_key_documents_the_key_and_store_errors():
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if operation["security"]:
                (requirement,) = operation["security"]
                assert requirement["bearerKey"] in (["ingest"], ["read"]), path
                assert {"401", "403", "503"} <= set(operation["responses"]), (method, path)


# Events ---------------------------------------------------------------------------------------


def test_every_demo_event_matches_the_event_schema():
    now = timezone.now()
    events = generate_demo_events(runs=20, now=now) + running_run_events(now=now)
    mapping = DOCUMENT["components"]["schemas"]["Event"]["discriminator"]["mapping"]
    # Each event against the schema its `type` picks, as the discriminator says (the
    # whole oneOf tries all twelve: ten times slower); the union itself, once per type.
    by_type = {t: validator_at(ref.removeprefix("#")) for t, ref in mapping.items()}
    union = schema_validator("Event")

    assert {e["type"] for e in events} == set(EVENT_TYPES)
    for event in events:
        assert problems(by_type[event["type"]], event) == [], event
    for event in {e["type"]: e for e in events}.values():
        assert problems(union, event) == [], event


def test_every_event_type_has_a_data_schema_and_a_discriminator_entry():
    mapping = DOCUMENT["components"]["schemas"]["Event"]["discriminator"]["mapping"]

    assert set(mapping) == set(EVENT_TYPES) == set(EVENT_DATA)


NOW = timezone.now().replace(microsecond=0)
TS = (NOW - timedelta(hours=1)).isoformat().replace("+00:00", "Z")


def _event(type_: str, data: dict | None = None, /, **fields) -> dict:
    event = {"v": 1, "event_id": "e1", "run_id": "r1", "ts": TS, "type": type_}
    if data is not None:
        event["data"] = data
    return {**event, **fields}


AGENT = {"name": "invoice-bot", "version": "1.4.0"}
ERROR = {"type": "KeyError", "message": "'x'"}

# (event, whether the protocol takes it): the schema must say the same.
PROTOCOL_CASES = [
    (_event("log", {"message": "hi"}), True),
    ({k: v for k, v in _event("log", {"message": "hi"}).items() if k != "v"}, True),
    (_event("log", {"message": "hi"}, v=2), False),
    (_event("log", {"message": "hi"}, v=True), False),
    (_event("teleport", {}), False),
    ({k: v for k, v in _event("log", {"message": "hi"}).items() if k != "type"}, False),
    (_event("log", {"message": ""}, seq=None, agent=None), True),
    (_event("log", {"message": "x", "level": "WARN", "stream": "stderr"}), True),
    (_event("log", {"message": "x", "level": "loud"}), False),
    (_event("log", {"message": "x", "stream": "stdin"}), False),
    (_event("log", None), False),
    (_event("log", {"message": "x"}, event_id="e" * 65), False),
    (_event("log", {"message": "x"}, event_id=""), False),
    (_event("log", {"message": "x"}, run_id="r" * 129), False),
    (_event("log", {"message": "x"}, seq=-1), False),
    (_event("log", {"message": "x"}, seq=2**63), False),
    (_event("log", {"message": "x"}, seq=2**63 - 1), True),
    (_event("log", {"message": "x"}, ts=NOW.timestamp() - 60), True),
    (_event("log", {"message": "x"}, ts=12), False),
    (_event("log", {"message": "x"}, ts=TS.removesuffix("Z")), False),
    (_event("log", {"message": "x"}, ts="last tuesday"), False),
    (_event("log", {"message": "x"}, agent={"version": "1"}), False),
    (_event("log", {"message": "x"}, data="hello"), False),
    (_event("run_start", {"inputs": {"a": 1}}, agent=AGENT), True),
    (_event("run_start", None, agent=AGENT), True),
    (_event("run_start", {}), False),
    (_event("run_start", {}, agent=None), False),
    (_event("run_start", {"environment": "moon"}, agent=AGENT), False),
    (_event("run_start", {"config": {"required_env": ["STRIPE_KEY"]}}, agent=AGENT), True),
    (_event("run_start", {"config": {"required_env": ["KEY=secret"]}}, agent=AGENT), False),
    (_event("run_start", {"config": {"oauth": "github"}}, agent=AGENT), False),
    (_event("run_end", None), True),
    (_event("run_end", {"outputs": [1, 2]}), True),
    (_event("error", {"error": ERROR}), True),
    (_event("error", {"error": {**ERROR, "message": "", "traceback": None}}), True),
    (_event("error", {"error": {"type": "KeyError"}}), False),
    (_event("error", {"error": "boom"}), False),
    (_event("error", {}), False),
    (_event("tool_start", {"tool_name": "search", "input_str": {"q": 1}, "span_id": None}), True),
    (_event("tool_start", {"tool_name": ""}), False),
    (_event("tool_end", {"tool_name": "search", "span_id": "s" * 129}), False),
    (_event("tool_error", {"tool_name": "search", "error": ERROR}), True),
    (_event("tool_error", {"tool_name": "search"}), False),
    (_event("llm_new_token", {"token": ""}), True),
    (_event("llm_new_token", {"token": 5}), False),
    (_event("agent_action", {"tool": "search", "tool_input": None}), True),
    (_event("agent_action", {"tool_input": {}}), False),
    (_event("status", {"status": "timed_out", "message": None}), True),
    (_event("status", {"status": "done"}), False),
    (_event("usage", {"model": "gpt-4o", "input_tokens": 1, "output_tokens": 2}), True),
    (_event("usage", {"model": "gpt-4o", "input_tokens": 1}), False),
    (_event("usage", {"model": "gpt-4o", "input_tokens": -1, "output_tokens": 2}), False),
    (_event("usage", {"model": "m", "input_tokens": 1, "output_tokens": 2.5}), False),
    (_event("revenue", {"kind": "charge", "amount": "12.50", "currency": "usd"}), True),
    (_event("revenue", {"kind": "charge", "amount": "999999999999.99", "currency": "EUR"}), True),
    (
        _event("revenue", {"kind": "charge", "amount": "999999999999.999999", "currency": "EUR"}),
        False,
    ),
    (_event("revenue", {"kind": "charge", "amount": "1234", "currency": "jpy"}), True),
    (_event("revenue", {"kind": "charge", "amount": "1234.00", "currency": "JPY"}), True),
    (_event("revenue", {"kind": "charge", "amount": "12.5", "currency": "JPY"}), False),
    (_event("revenue", {"kind": "charge", "amount": "1.500", "currency": "KWD"}), True),
    (_event("revenue", {"kind": "charge", "amount": "1.5001", "currency": "KWD"}), False),
    (_event("revenue", {"kind": "charge", "amount": "12.345", "currency": "USD"}), False),
    (_event("revenue", {"kind": "charge", "amount": "0.0001", "currency": "CLF"}), True),
    (_event("revenue", {"kind": "charge", "amount": "1", "currency": "XXQ"}), False),
    (_event("revenue", {"kind": "charge", "amount": "1", "currency": "XAU"}), False),
    (_event("revenue", {"kind": "charge", "amount": "1000000000000", "currency": "EUR"}), False),
    (_event("revenue", {"kind": "charge", "amount": "1.1234567", "currency": "EUR"}), False),
    (_event("revenue", {"kind": "charge", "amount": 12.5, "currency": "USD"}), False),
    (_event("revenue", {"kind": "refund", "amount": "-1", "currency": "USD"}), False),
    (_event("revenue", {"kind": "refund", "amount": "1.", "currency": "USD"}), False),
    (_event("revenue", {"kind": "gift", "amount": "1", "currency": "USD"}), False),
    (_event("revenue", {"kind": "charge", "amount": "1", "currency": "US"}), False),
    (
        _event("revenue", {"kind": "charge", "amount": "1", "currency": "USD", "metadata": []}),
        False,
    ),
]


def _protocol_takes(event: dict) -> bool:
    try:
        validate_event(event)
    except EventError:
        return False
    return True


@pytest.mark.parametrize(("event", "valid"), PROTOCOL_CASES)
def test_the_event_schema_agrees_with_the_protocol(event, valid):
    assert _protocol_takes(event) is valid, "the case itself is wrong"

    found = problems(schema_validator("Event"), event)

    if valid:
        assert found == []
    else:
        assert found, "the schema takes an event the protocol refuses"


# Real responses -------------------------------------------------------------------------------


@pytest.fixture
def demo_runs(project) -> list[str]:
    """Five demo runs and a run with every kind of detail, applied."""
    events = generate_demo_events(runs=5, now=timezone.now(), days=2)
    apply_now(project, events)
    apply_now(project, a_detailed_run("detailed"))
    apply_now(project, a_run("running", at=0, seconds=None))
    # Five demo runs need not include the agent that reports its LLM calls whole.
    apply_now(project, [*a_run("whole-call", at=0, seconds=2), a_whole_llm_call("whole-call")])
    return sorted({e["run_id"] for e in events} | {"detailed", "running", "whole-call"})


def a_whole_llm_call(run_id: str) -> dict:
    sent = (T0 + timedelta(seconds=0.5)).isoformat().replace("+00:00", "Z")
    return ev("llm_call", run_id, at=1.5, seq=50, call_id="c1", model="gpt-4o", started_at=sent,
              input=[{"role": "user", "content": "Which invoices are overdue?"}],
              output="Three.", input_tokens=900, output_tokens=12)  # fmt: skip


def test_a_runs_page_matches_its_schema(project, demo_runs):
    reader = key(project, "read")

    body = assert_documented(reader.get("/api/v1/runs?limit=3"), "/api/v1/runs")
    assert body["next_cursor"]
    assert_documented(
        reader.get(f"/api/v1/runs?limit=200&cursor={body['next_cursor']}"), "/api/v1/runs"
    )
    assert_documented(reader.get("/api/v1/runs?sort=duration&status=failed"), "/api/v1/runs")


def test_every_run_detail_matches_its_schema(project, demo_runs):
    reader = key(project, "read")

    for run_id in demo_runs:
        body = assert_documented(reader.get(f"/api/v1/runs/{run_id}"), "/api/v1/runs/{run_id}")
        assert body["run_id"] == run_id

    detailed = reader.get("/api/v1/runs/detailed").json()
    assert detailed["tool_spans"] and detailed["llm_calls"] and detailed["errors"]
    assert detailed["llm_calls"][0]["stalls"]
    assert {s["status"] for s in detailed["tool_spans"]} == {"ok", "error", "abandoned"}


def test_every_events_page_matches_its_schema(project, demo_runs):
    reader = key(project, "read")
    seen_types = set()

    for run_id in demo_runs:
        url = f"/api/v1/runs/{run_id}/events"
        body = assert_documented(reader.get(f"{url}?limit=5000"), "/api/v1/runs/{run_id}/events")
        seen_types |= {e["type"] for e in body["events"]}
        page = assert_documented(reader.get(f"{url}?limit=2"), "/api/v1/runs/{run_id}/events")
        assert (page["next_cursor"] is None) == (len(body["events"]) <= 2)

    assert seen_types == set(EVENT_TYPES) - {"llm_new_token"}


def test_an_ingest_answer_with_rejections_matches_its_schema(project):
    body = "\n".join(
        [json.dumps(ev("run_start")), "{not json", json.dumps(ev("teleport")), ""]
    ).encode()

    response = key(project, "ingest").post(
        "/api/v1/ingest", data=body, content_type="application/x-ndjson"
    )

    answer = assert_documented(response, "/api/v1/ingest", "post")
    assert response.status_code == 202
    assert answer["accepted"] == 1
    assert [r["index"] for r in answer["rejected"]] == [1, 2]


@pytest.mark.parametrize(
    ("send", "status"),
    [
        (lambda c: c.post("/api/v1/ingest", "nothing here", content_type="text/csv"), 415),
        (lambda c: c.post("/api/v1/ingest", b"not json\n", content_type="application/json"), 400),
        (lambda c: c.post("/api/v1/ingest", b"hello", content_type="text/plain"), 400),
        (
            lambda c: c.post(
                "/api/v1/ingest",
                gzip.compress(b" " * (11 * 1024 * 1024)),
                content_type="application/x-ndjson",
                headers={"Content-Encoding": "gzip"},
            ),
            413,
        ),
    ],
)
def test_ingest_errors_match_their_schema(project, send, status):
    response = send(key(project, "ingest"))

    assert response.status_code == status
    assert_documented(response, "/api/v1/ingest", "post")


def test_ingest_key_errors_match_their_schema(project):
    body = json.dumps(ev("run_start")).encode()
    for client, status in [
        (Client(), 401),
        (Client(headers={"Authorization": "Bearer chs_unknown"}), 401),
        (key(project, "read"), 403),
    ]:
        response = client.post("/api/v1/ingest", body, content_type="application/x-ndjson")
        assert response.status_code == status
        assert_documented(response, "/api/v1/ingest", "post")


def test_a_rate_limited_ingest_matches_its_schema(project, settings):
    settings.INGEST_RATE_LIMIT_PER_MINUTE = 1
    client = key(project, "ingest")
    body = json.dumps(ev("run_start")).encode()

    client.post("/api/v1/ingest", body, content_type="application/x-ndjson")
    response = client.post("/api/v1/ingest", body, content_type="application/x-ndjson")

    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert_documented(response, "/api/v1/ingest", "post")


def test_an_ingest_with_the_store_down_matches_its_schema(project, monkeypatch):
    client = key(project, "ingest")

    def store_down(**_kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("runs.api.batch_store", store_down)
    response = client.post(
        "/api/v1/ingest", json.dumps(ev("run_start")), content_type="application/x-ndjson"
    )

    assert response.status_code == 503
    assert_documented(response, "/api/v1/ingest", "post")


READ_ERRORS = [
    ("/api/v1/runs?status=done", "/api/v1/runs", "read", 400),
    ("/api/v1/runs?since=yesterday", "/api/v1/runs", "read", 400),
    ("/api/v1/runs?cursor=nope", "/api/v1/runs", "read", 400),
    ("/api/v1/runs", "/api/v1/runs", "ingest", 403),
    ("/api/v1/runs/nope", "/api/v1/runs/{run_id}", "read", 404),
    ("/api/v1/runs/nope", "/api/v1/runs/{run_id}", "ingest", 403),
    ("/api/v1/runs/nope/events", "/api/v1/runs/{run_id}/events", "read", 404),
    ("/api/v1/runs/r1/events?limit=0", "/api/v1/runs/{run_id}/events", "read", 400),
    ("/api/v1/runs/r1/events?cursor=x", "/api/v1/runs/{run_id}/events", "read", 400),
    ("/api/v1/runs/r1/events", "/api/v1/runs/{run_id}/events", "ingest", 403),
    ("/api/v1/runs/r1/events", "/api/v1/runs/{run_id}/events", None, 401),
    ("/api/v1/runs/r1", "/api/v1/runs/{run_id}", None, 401),
    ("/api/v1/runs", "/api/v1/runs", None, 401),
]


@pytest.mark.parametrize(("url", "path", "scope", "status"), READ_ERRORS)
def test_read_errors_match_their_schema(project, url, path, scope, status):
    apply_now(project, a_run("r1", at=0, seconds=1))
    client = key(project, scope) if scope else Client()

    response = client.get(url)

    assert response.status_code == status
    assert_documented(response, path)


@pytest.mark.parametrize("path", ["/api/v1/runs", "/api/v1/runs/{run_id}"])
def test_a_read_with_the_store_down_matches_its_schema(project, monkeypatch, path):
    def store_down(*_args):
        raise OperationalError("connection refused")

    monkeypatch.setattr("runs.api.apikey_authenticate", store_down)
    response = Client(headers={"Authorization": "Bearer chs_x"}).get(path.replace("{run_id}", "r1"))

    assert response.status_code == 503
    assert_documented(response, path)


def test_the_health_check_matches_its_schema(client, db):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert_documented(response, "/healthz")
