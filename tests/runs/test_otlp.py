"""OTLP/HTTP traces in: what the real OpenTelemetry SDK exports becomes runs.

Spans come from the real SDK (`tests.runs.otel_agents`), encoded by the exporter's
own encoder; one test runs the real `OTLPSpanExporter` against a real Studio and
worker. Only the malformed-input tests at the end write bodies by hand.
"""

import gzip
import json
from decimal import Decimal

import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from billing.models import ModelPrice
from runs.ingest.inbox import batch_apply
from runs.models import ErrorGroup, Event, IngestBatch, LlmCall, Run, ToolSpan, UsageDaily
from tests.conftest import wait_for
from tests.runs import otel_agents as agents
from tests.runs.test_browser_run_detail import asgi_server  # noqa: F401 — a fixture

OTLP = "/api/v1/otlp/v1/traces"
PROTOBUF = "application/x-protobuf"


def export(client, body: bytes, content_type: str = PROTOBUF, path: str = OTLP, **headers):
    return client.post(path, data=body, content_type=content_type, headers=headers)


def apply_pending() -> None:
    for batch_id in (
        IngestBatch.objects.filter(status="pending").order_by("id").values_list("pk", flat=True)
    ):
        batch_apply(batch_id)


def the_run(spans) -> Run:
    return Run.objects.get(run_id=format(spans[0].context.trace_id, "032x"))


@pytest.fixture
def priced(org):
    return ModelPrice.objects.create(
        organization=org,
        model_pattern="gpt-4o-mini",
        match="exact",
        input_per_m=Decimal("0.15"),
        output_per_m=Decimal("0.60"),
        cache_read_per_m=Decimal("0.075"),
        currency="USD",
        effective_from="2020-01-01",
    )


def test_the_read_api_gives_an_otlp_run_its_prompt_attributes_and_time_order(api, project):
    spans = agents.traced(agents.openinference_agent)
    export(api, agents.otlp_protobuf(spans))
    apply_pending()

    detail = api.get(f"/api/v1/runs/{the_run(spans).run_id}").json()
    (call,) = detail["llm_calls"]
    assert call["input"][1] == {"role": "user", "content": "Weather in Paris?"}
    assert call["text"] == agents.ANSWER
    assert call["attributes"]["llm.provider"] == "openai"
    assert call["started_at"] < call["ended_at"] and call["first_token_at"] is None
    by_tool = {s["tool_name"]: s for s in detail["tool_spans"]}
    assert by_tool["get_weather"]["attributes"] == {"tool.description": "The weather in a city."}


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_a_hand_instrumented_agent_is_one_run_with_its_calls_usage_cost_and_error(
    api, project, priced, encoding
):
    spans = agents.traced(agents.openinference_agent)
    if encoding == "protobuf":
        response = export(api, agents.otlp_protobuf(spans))
        answer = ExportTraceServiceResponse.FromString(response.content)
        assert response["Content-Type"] == PROTOBUF
        assert answer.partial_success.rejected_spans == 0
    else:
        response = export(api, agents.otlp_json(spans), "application/json")
        assert response.json() == {}
    assert response.status_code == 200
    # 200 means committed: the batch is in the inbox before the answer.
    assert IngestBatch.objects.get().source == "otlp"
    apply_pending()

    run = the_run(spans)
    assert run.agent_name == "weather-agent"
    assert run.status == "succeeded"
    assert run.inputs == {"city": "Paris"}
    assert run.outputs == agents.ANSWER
    assert run.thread_id == "chat-7"
    assert run.runtime["user_id"] == "user-42"
    assert run.runtime["attributes"] == {"deployment.region": "eu-west-1"}
    assert run.tool_calls == 2 and run.tool_errors == 1

    spans_by_tool = {s.tool_name: s for s in ToolSpan.objects.filter(run=run)}
    assert spans_by_tool["get_weather"].status == "ok"
    assert spans_by_tool["get_weather"].input_str == "Paris"
    assert spans_by_tool["get_weather"].output == "18°C and sunny"
    assert spans_by_tool["get_weather"].attributes == {"tool.description": "The weather in a city."}
    failed = spans_by_tool["get_forecast"]
    assert failed.status == "error"
    assert failed.error["type"] == "TimeoutError"
    assert failed.error["message"] == "forecast service timed out for Paris"
    assert "raise TimeoutError" in failed.error["traceback"]
    assert ErrorGroup.objects.get(project=project).error_type == "TimeoutError"

    call = LlmCall.objects.get(run=run)
    assert call.model == "gpt-4o-mini"
    assert call.text == agents.ANSWER
    assert call.prompt[1] == {"role": "user", "content": "Weather in Paris?"}
    # OpenInference counts cached input inside the prompt count: Studio's are disjoint.
    assert (call.input_tokens, call.cache_read_tokens, call.output_tokens) == (1000, 200, 300)
    assert call.cost == Decimal("0.000150") + Decimal("0.000015") + Decimal("0.000180")
    assert call.details["llm.provider"] == "openai"
    assert call.started_at < call.ended_at
    assert run.cost == call.cost and run.llm_calls == 1
    daily = UsageDaily.objects.get(project_id=project.pk, model="gpt-4o-mini")
    assert (daily.input_tokens, daily.output_tokens, daily.cost) == (1000, 300, call.cost)


def test_genai_conventions_map_like_openinference_and_a_failed_root_fails_the_run(api, project):
    spans = agents.traced(agents.genai_agent, service="unknown_service", fail=True)
    assert export(api, agents.otlp_protobuf(spans)).status_code == 200
    apply_pending()

    run = the_run(spans)
    assert run.agent_name == "support-bot"
    assert run.thread_id == "conv-1"
    assert run.status == "failed"
    assert run.error_type == "KeyError"
    call = LlmCall.objects.get(run=run)
    assert call.model == "claude-sonnet-4-20250514"
    assert (call.input_tokens, call.cache_read_tokens, call.output_tokens) == (500, 400, 100)
    assert call.text == "Refunded."
    assert call.details["gen_ai.request.temperature"] == 0.0
    tool = ToolSpan.objects.get(run=run)
    assert (tool.tool_name, tool.input_str, tool.output) == ("refund", '{"order": "A-1"}',
                                                            '{"ok": true}')  # fmt: skip
    assert tool.attributes["gen_ai.tool.call.id"] == "call-9"


def test_a_langchain_agent_instrumented_by_openinference_shows_its_tools_and_tokens(api, project):
    exporter = InMemorySpanExporter()
    tracer_provider = agents.provider("weather-agent", exporter)
    agents.langchain_agent(tracer_provider)
    spans = list(exporter.get_finished_spans())
    assert export(api, agents.otlp_protobuf(spans)).status_code == 200
    apply_pending()

    run = the_run(spans)
    assert run.status == "succeeded"
    assert run.agent_name == "weather-agent"
    assert run.outputs == agents.ANSWER
    tools = {s.tool_name: s for s in ToolSpan.objects.filter(run=run)}
    assert tools["get_weather"].status == "ok"
    assert tools["get_pollen"].status == "error"
    assert tools["get_pollen"].error["type"] == "ConnectionError"
    calls = list(LlmCall.objects.filter(run=run).order_by("started_at"))
    assert [(c.input_tokens, c.output_tokens) for c in calls] == [(12, 5), (40, 9)]
    assert calls[1].text == agents.ANSWER
    assert run.input_tokens == 52 and run.output_tokens == 14
    # The first answer was a tool call: kept with the call, never dropped.
    assert calls[0].details["output_messages"][0]["tool_calls.0.tool_call.function.name"] == (
        "get_weather"
    )


def test_spans_of_one_trace_split_over_requests_in_reverse_order_make_one_run(api, project):
    spans = agents.traced(agents.openinference_agent)
    root = [s for s in spans if s.parent is None]
    children = [s for s in spans if s.parent is not None]
    assert export(api, agents.otlp_protobuf(children[::-1])).status_code == 200
    apply_pending()
    run = the_run(spans)
    # The root has not arrived: the run is still running.
    assert run.status == "running"
    assert run.tool_calls == 2

    assert export(api, agents.otlp_protobuf(root)).status_code == 200
    apply_pending()
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert run.agent_name == "weather-agent"
    assert run.started_at == min(e.ts for e in Event.objects.filter(run_pk=run.pk))
    assert Run.objects.count() == 1


def test_an_export_sent_again_changes_nothing(api, project, priced):
    body = agents.otlp_protobuf(agents.traced(agents.openinference_agent))
    export(api, body)
    apply_pending()
    run = Run.objects.get()
    before = (run.event_count, run.cost, run.tool_calls, run.input_tokens, Event.objects.count())
    export(api, body)
    apply_pending()
    run.refresh_from_db()
    after = (run.event_count, run.cost, run.tool_calls, run.input_tokens, Event.objects.count())
    assert after == before
    assert LlmCall.objects.count() == 1 and ToolSpan.objects.count() == 2
    assert UsageDaily.objects.get(project_id=project.pk, model="gpt-4o-mini").input_tokens == 1000


def test_the_collector_path_and_an_x_api_key_header_work_too(client, project, ingest_key):
    body = agents.otlp_protobuf(agents.traced(agents.genai_agent))
    response = export(client, body, path="/v1/traces", **{"x-api-key": ingest_key})
    assert response.status_code == 200
    assert IngestBatch.objects.get().event_count > 0


def test_gzip_bodies_are_taken(api, project):
    body = gzip.compress(agents.otlp_protobuf(agents.traced(agents.genai_agent)))
    assert export(api, body, **{"Content-Encoding": "gzip"}).status_code == 200


def test_the_real_exporter_against_a_real_studio_and_worker(asgi_server, worker, project):  # noqa: F811
    from studio.apikeys import apikey_create

    key = apikey_create(project=project, scopes=["ingest"])[1]
    worker()
    exporter = OTLPSpanExporter(
        endpoint=f"{asgi_server}/v1/traces", headers={"Authorization": f"Bearer {key}"}
    )
    spans = agents.traced(agents.openinference_agent)
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    run = wait_for(lambda: Run.objects.filter(status="succeeded").first())
    assert run.tool_calls == 2 and run.llm_calls == 1


# --- bad input ---------------------------------------------------------------------


def test_a_body_that_is_not_protobuf_is_a_400_status_in_protobuf(api):
    response = export(api, b"\xff\xff\xff not a request")
    assert response.status_code == 400
    status = Status.FromString(response.content)
    assert "not an OTLP ExportTraceServiceRequest in protobuf" in status.message


def test_broken_json_is_a_400_in_json(api):
    response = export(api, b'{"resourceSpans": [', "application/json")
    assert response.status_code == 400
    assert "not OTLP JSON" in response.json()["message"]


def test_a_wrong_content_type_is_a_415_naming_the_two_it_takes(api):
    response = export(api, b"hello", "text/plain")
    assert response.status_code == 415
    assert "application/x-protobuf" in response.json()["message"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}])
def test_a_missing_or_unknown_key_is_a_401(client, db, headers):
    response = export(client, b"\n\x00", **headers)
    assert response.status_code == 401
    assert "key" in Status.FromString(response.content).message


def test_bad_spans_are_rejected_one_by_one_and_their_neighbours_kept(api, project):
    good = agents.traced(agents.genai_agent)
    document = json.loads(agents.otlp_json(good))
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans.append({**spans[0], "spanId": "zz"})  # not hex
    spans.append({**spans[0], "spanId": "00000000000000aa", "startTimeUnixNano": "1"})  # 1970
    response = export(api, json.dumps(document).encode(), "application/json")
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2"
    assert "spanId: expected 16 hex digits" in partial["errorMessage"]
    assert "before 2000-01-01" in partial["errorMessage"]
    apply_pending()
    assert Run.objects.get().tool_calls == 1


def test_spans_of_a_resource_with_bad_attributes_are_rejected_and_other_resources_kept(
    api, project
):
    document = json.loads(agents.otlp_json(agents.traced(agents.genai_agent)))
    broken = json.loads(json.dumps(document["resourceSpans"][0]))
    broken["resource"]["attributes"] = {"service.name": "not an array"}
    for span in broken["scopeSpans"][0]["spans"]:
        span["traceId"] = "ab" * 16
    document["resourceSpans"].append(broken)
    response = export(api, json.dumps(document).encode(), "application/json")

    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == str(len(broken["scopeSpans"][0]["spans"]))
    assert "resourceSpans[1].resource.attributes: expected an array" in partial["errorMessage"]
    apply_pending()
    assert Run.objects.get().tool_calls == 1


def test_a_lone_surrogate_in_json_is_kept_as_a_replacement_character(api, project):
    spans = agents.traced(agents.genai_agent)
    body = agents.otlp_json(spans).replace(b'"refund"', b'"refund\\ud800"', 1)
    assert b"\\ud800" in body
    response = export(api, body, "application/json")

    assert response.status_code == 200 and response.json() == {}
    apply_pending()
    assert "refund\ufffd" in {s.tool_name for s in ToolSpan.objects.all()}


def tool_outputs_agent(tracer, outputs: dict[str, str], mime: str = "text/plain") -> None:
    with tracer.start_as_current_span("agent") as root:
        root.set_attribute("openinference.span.kind", "AGENT")
        for name, output in outputs.items():
            with tracer.start_as_current_span(name) as tool:
                tool.set_attribute("openinference.span.kind", "TOOL")
                tool.set_attribute("tool.name", name)
                tool.set_attribute("output.value", output)
                tool.set_attribute("output.mime_type", mime)


@pytest.mark.parametrize(
    "output, size",
    [
        ("x" * (1024 * 1024), "1,048,6"),  # over the limit as it came
        ("\x01" * 180_000, "1,080,0"),  # 180 kB sent, six times that as JSON
    ],
)
def test_a_span_whose_event_is_over_the_size_limit_is_rejected_alone(api, project, output, size):
    spans = agents.traced(tool_outputs_agent, outputs={"small": "ok", "big": output})
    response = export(api, agents.otlp_protobuf(spans))

    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1
    assert "('big')" in partial.error_message
    assert f"its tool_end is {size}" in partial.error_message
    assert "bytes; the limit is 1,048,576" in partial.error_message
    apply_pending()
    assert [s.tool_name for s in ToolSpan.objects.all()] == ["small"]


@pytest.mark.parametrize(
    "text, problem",
    [
        ('{"temperature": NaN}', "output.temperature: expected a finite number, got NaN"),
        ('{"note": "a\\u0000b"}', "output.note: string contains a NUL character"),
        ('{"note": "\\ud800"}', "output.note: string contains an unpaired UTF-16 surrogate"),
        ("[" * 70 + "]" * 70, "nested more than 64 levels deep"),
    ],
)
def test_json_in_an_attribute_that_cannot_be_stored_rejects_its_span_alone(
    api, project, text, problem
):
    spans = agents.traced(
        tool_outputs_agent, outputs={"good": '{"temperature": 18}', "bad": text},
        mime="application/json",
    )  # fmt: skip
    response = export(api, agents.otlp_protobuf(spans))

    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1
    assert "('bad')" in partial.error_message and problem in partial.error_message
    apply_pending()
    (kept,) = ToolSpan.objects.all()
    assert (kept.tool_name, kept.output) == ("good", {"temperature": 18})


def test_every_exception_a_failed_tool_recorded_is_kept_at_its_time(api, project):
    from opentelemetry.trace import Status as SpanStatus
    from opentelemetry.trace import StatusCode

    def agent(tracer):
        with tracer.start_as_current_span("agent") as root:
            root.set_attribute("openinference.span.kind", "AGENT")
            with tracer.start_as_current_span("lookup") as tool:
                tool.set_attribute("openinference.span.kind", "TOOL")
                tool.set_attribute("tool.name", "lookup")
                tool.record_exception(ConnectionError("first try refused"))
                tool.record_exception(TimeoutError("second try timed out"))
                tool.set_status(SpanStatus(StatusCode.ERROR))

    spans = agents.traced(agent)
    export(api, agents.otlp_protobuf(spans))
    apply_pending()

    run = the_run(spans)
    assert ToolSpan.objects.get(run=run).error["type"] == "TimeoutError"
    (log,) = Event.objects.filter(run_pk=run.pk, type="log", data__level="error")
    assert log.data["message"].startswith("ConnectionError: first try refused")
    assert run.started_at <= log.ts <= run.ended_at


def test_a_store_outage_is_a_503_with_retry_after(api, project, monkeypatch):
    from django.db import OperationalError

    from runs import otlp_api

    def down(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(otlp_api, "batch_store", down)
    response = export(api, agents.otlp_protobuf(agents.traced(agents.genai_agent)))
    assert response.status_code == 503
    assert response["Retry-After"]
