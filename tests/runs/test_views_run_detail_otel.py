"""The run page for a run that came in as OpenTelemetry spans: the LLM call's prompt,
answer and attributes, the tool's and the span log's attributes, all escaped, and the
whole call placed on the timeline by its own times."""

import json
import re

import pytest

from runs.models import LlmCall, Run
from tests.conftest import log_in
from tests.runs import otel_agents as agents
from tests.runs.test_browser_run_detail import SHOTS, asgi_server  # noqa: F401 — a fixture
from tests.runs.test_otlp import apply_pending, export, the_run
from tests.runs.test_views_run_detail import pane

HOSTILE = "<script>alert(1)</script>"


def agent_with_a_hostile_chain(tracer) -> None:
    """An agent whose one step is a chain span (not a tool or an LLM: it becomes a log
    line) carrying a hostile attribute."""
    with tracer.start_as_current_span("planner") as root:
        root.set_attribute("openinference.span.kind", "AGENT")
        with tracer.start_as_current_span("retry-policy") as chain:
            chain.set_attribute("openinference.span.kind", "CHAIN")
            chain.set_attribute("policy.note", HOSTILE)


@pytest.fixture
def otel_run(api, project) -> Run:
    spans = agents.traced(agents.openinference_agent, city=HOSTILE, llm_seconds=0.02)
    assert export(api, agents.otlp_protobuf(spans)).status_code == 200
    apply_pending()
    return the_run(spans)


def test_the_llm_pane_shows_the_prompt_messages_the_answer_and_the_attributes(
    owner_client, otel_run
):
    call = LlmCall.objects.get(run=otel_run)
    html = pane(owner_client, otel_run.run_id, f"llm:{call.call_id}")

    roles = re.findall(r'class="rd-msg__role">([^<]+)<', html)
    assert roles == ["system", "user"]
    assert "You are a weather bot." in html
    assert "Answer" in html and agents.ANSWER in html
    assert "Latency" in html and "Time to first token" not in html
    # The unknown attributes, by key, with their values.
    assert "llm.invocation_parameters" in html and "temperature" in html
    assert "llm.provider" in html and ">openai<" in html


def test_the_header_says_which_service_and_user_sent_the_trace(owner_client, otel_run):
    page = owner_client.get(f"/runs/{otel_run.run_id}/").content.decode()
    runtime = page[page.index("rd-facts__runtime") :][:1500]
    assert "Service" in runtime and "weather-agent" in runtime
    assert "User" in runtime and "user-42" in runtime


def test_the_tool_pane_shows_the_tools_attributes(owner_client, otel_run):
    span = otel_run.spans.get(tool_name="get_weather")
    html = pane(owner_client, otel_run.run_id, f"tool:{span.span_key}")
    assert "tool.description" in html and "The weather in a city." in html


def test_a_span_log_shows_its_attributes_and_nothing_hostile_runs(owner_client, api, project):
    spans = agents.traced(agent_with_a_hostile_chain)
    export(api, agents.otlp_protobuf(spans))
    apply_pending()
    run = the_run(spans)
    (log_id,) = [
        event_id
        for event_id, data in run_events(run, "log")
        if "otel.span" in (data.get("attributes") or {})
    ]

    html = pane(owner_client, run.run_id, f"log:{log_id}")
    assert "policy.note" in html
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    page = owner_client.get(f"/runs/{run.run_id}/").content.decode()
    assert HOSTILE not in page


def test_the_prompt_of_a_hostile_question_is_escaped(owner_client, otel_run):
    call = LlmCall.objects.get(run=otel_run)
    html = pane(owner_client, otel_run.run_id, f"llm:{call.call_id}")
    assert HOSTILE not in html
    assert "Weather in &lt;script&gt;alert(1)&lt;/script&gt;?" in html


def test_the_whole_call_sits_on_the_timeline_from_its_start_to_its_end(owner_client, otel_run):
    call = LlmCall.objects.get(run=otel_run)
    page = owner_client.get(f"/runs/{otel_run.run_id}/").content.decode()
    rows = re.findall(r'data-key="([a-z]+):', page)
    # The LLM span came first in the trace, before both tools.
    assert rows.index("llm") < rows.index("tool")
    bar = re.search(
        rf'data-key="llm:{re.escape(call.call_id)}" data-s="([0-9.]+)" data-e="([0-9.]+)"', page
    )
    assert bar is not None, "the call is a bar from when it was sent to its answer"
    assert float(bar[2]) > float(bar[1])


def run_events(run: Run, type_: str) -> list[tuple[str, dict]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_id, data FROM runs_event WHERE run_pk = %s AND type = %s ORDER BY ts",
            [run.pk, type_],
        )
        return [(e, d if isinstance(d, dict) else json.loads(d)) for e, d in cursor.fetchall()]


@pytest.mark.browser
def test_in_a_browser_a_click_on_the_llm_call_shows_what_it_was_sent(
    asgi_server,  # noqa: F811 — the fixture imported above
    page,
    api,
    project,
    owner,
):
    spans = agents.traced(agents.openinference_agent, llm_seconds=0.05)
    export(api, agents.otlp_protobuf(spans))
    apply_pending()
    run = the_run(spans)
    call = LlmCall.objects.get(run=run)
    log_in(page, asgi_server, owner.username)
    page.goto(f"{asgi_server}/runs/{run.run_id}/")

    page.locator(f'[data-key="llm:{call.call_id}"]').click()
    page.wait_for_selector("#detail-pane .rd-msg")
    pane_text = page.locator("#detail-pane").inner_text()
    assert "Weather in Paris?" in pane_text and agents.ANSWER in pane_text
    assert "llm.provider" in pane_text
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "browser-otlp-llm.png"), full_page=True)
