"""Everything the exporter sends passes Studio's own parser, with nothing rejected.

The exporter is a separate, standard-library-only package; this holds it to the
protocol as `runs.protocol` implements it, for every event type it can send.
"""

import math

import charm_studio
import pytest
from charm_studio import StudioExporter
from charm_studio import exporter as exporter_module
from charm_studio import sender as sender_module
from charm_studio.testing import FakeStudio

from runs.protocol import parse_body


@pytest.fixture
def studio(monkeypatch):
    for name in ("API_KEY", "AGENT", "ENVIRONMENT", "BUFFER"):
        monkeypatch.delenv(f"CHARM_STUDIO_{name}", raising=False)
    exporter_module._current_run.set(None)
    sender_module._discard_sender()
    with FakeStudio() as fake:
        monkeypatch.setenv("CHARM_STUDIO_URL", fake.url)
        yield fake
    sender_module._discard_sender()


def parsed(studio: FakeStudio) -> list:
    assert charm_studio.flush(timeout=10)
    events = []
    for request in studio.requests:
        result = parse_body(
            request.body,
            content_type=request.headers["Content-Type"],
            content_encoding=request.headers["Content-Encoding"],
        )
        assert result.rejected == [], result.rejected
        events.extend(result.events)
    return events


def test_a_run_with_every_hook_is_accepted_as_sent(studio):
    exporter = StudioExporter()
    exporter.on_run_start(run_id="local", inputs={"input": "refund INV-7", "n": 1.5})
    exporter.on_agent_action(tool="refund", tool_input={"invoice": "INV-7"})
    exporter.on_tool_start(tool_name="refund", input_str="{'invoice': 'INV-7'}")
    try:
        raise PermissionError("refunds need approval")
    except PermissionError as exc:
        exporter.on_tool_error(tool_name="refund", error=exc)
    exporter.on_tool_start(tool_name="ask_human", input_str="approve?")
    exporter.on_tool_end(tool_name="ask_human", output="content='waiting'")
    for token in ("Waiting ", "for ", "approval."):
        exporter.on_llm_new_token(token=token)
    exporter.on_run_end(
        run_id="local",
        outputs={"status": "suspended", "thread_id": "t-1", "next_step": ("approve",)},
    )
    exporter.on_run_start(run_id="local", inputs={"input": "again"})
    exporter.on_run_end(run_id="local", outputs={"status": "error", "message": "boom"})
    exporter.on_error(run_id="local", error=Exception("PermissionError: refunds need approval"))

    events = parsed(studio)
    assert [e.type for e in events] == [
        "run_start",
        "agent_action",
        "tool_start",
        "tool_error",
        "tool_start",
        "tool_end",
        "llm_new_token",
        "llm_new_token",
        "llm_new_token",
        "status",
        "run_start",
        "run_end",
        "error",
    ]
    assert events[0].agent_name == "agent" and events[0].data["environment"] == "local"
    assert events[3].data["span_id"] == events[2].data["span_id"]
    assert events[9].data["status"] == "suspended" and events[9].data["thread_id"] == "t-1"
    assert events[-1].data["error"]["type"] == "PermissionError"


@pytest.mark.parametrize(
    "value",
    [
        math.nan,
        "nul\x00 and lone \udc80 surrogate",
        {1: {2: {3: [math.inf]}}},
        object(),
        b"\xff\xfe",
        "x" * 2_000_000,
        ["é" * 300_000] * 8,
    ],
    ids=["nan", "nul-surrogate", "int-keys", "object", "bytes", "2M-chars", "big-list"],
)
def test_values_postgres_could_not_store_are_made_storable_before_sending(studio, value):
    exporter = StudioExporter()
    exporter.on_run_start(run_id="local", inputs=value)
    exporter.on_tool_start(tool_name=value, input_str=value)
    exporter.on_tool_end(tool_name=value, output=value)
    exporter.on_llm_new_token(token=value)
    exporter.on_agent_action(tool=value, tool_input=value)
    exporter.on_run_end(run_id="local", outputs={"status": "success", "output": value})

    assert len(parsed(studio)) == 6


def test_the_report_of_dropped_events_is_accepted(studio, monkeypatch):
    monkeypatch.setenv("CHARM_STUDIO_BUFFER", "10")
    exporter = StudioExporter()
    exporter.on_run_start(run_id="local", inputs={})
    studio.hang()
    charm_studio.flush(timeout=0.3)
    for n in range(50):
        exporter.on_llm_new_token(token=f"t{n}")
    studio.release()

    logs = [e for e in parsed(studio) if e.type == "log"]
    assert [(e.data["level"], e.data["stream"], e.data["logger"]) for e in logs] == [
        ("warning", "stderr", "charm_studio")
    ]
