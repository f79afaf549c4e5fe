"""What the exporter sends for a run driven by hand through the eight hooks."""

import gzip
import re
import threading

import charm_studio
from charm_studio import StudioExporter, sender

TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def full_run(exporter: StudioExporter) -> None:
    """A run as the SDK reports it: a tool, an action, two LLM calls, an answer."""
    exporter.on_run_start(run_id="local", inputs={"input": "Is INV-7 overdue?"})
    exporter.on_agent_action(tool="lookup_invoice", tool_input={"number": "INV-7"})
    exporter.on_tool_start(tool_name="lookup_invoice", input_str="{'number': 'INV-7'}")
    exporter.on_tool_end(tool_name="lookup_invoice", output="content='120.00 EUR, overdue'")
    for token in ("It ", "is ", "overdue."):
        exporter.on_llm_new_token(token=token)
    exporter.on_run_end(run_id="local", outputs={"status": "success", "output": "It is overdue."})


def sent_events(studio, count: int) -> list[dict]:
    assert studio.wait_for(lambda events: len(events) >= count), studio.events
    return studio.events


def test_a_full_run_arrives_as_protocol_v1_events_in_order(studio):
    full_run(StudioExporter())

    events = sent_events(studio, 8)
    assert [e["type"] for e in events] == [
        "run_start",
        "agent_action",
        "tool_start",
        "tool_end",
        "llm_new_token",
        "llm_new_token",
        "llm_new_token",
        "run_end",
    ]
    run_id = events[0]["run_id"]
    for seq, event in enumerate(events):
        assert event["v"] == 1
        assert event["run_id"] == run_id
        assert event["seq"] == seq
        assert event["event_id"] == f"{run_id}-{seq}"
        assert TS.match(event["ts"]), event["ts"]
        assert event["agent"] == {"name": "invoice-bot", "version": "1.4.0"}
    timestamps = [e["ts"] for e in events]
    assert timestamps == sorted(timestamps) and len(set(timestamps)) == len(timestamps)


def test_each_event_carries_the_data_studio_expects(studio):
    full_run(StudioExporter())

    start, action, tool_start, tool_end, *tokens, end = sent_events(studio, 8)
    assert start["data"]["inputs"] == {"input": "Is INV-7 overdue?"}
    assert start["data"]["environment"] == "local"
    runtime = start["data"]["runtime"]
    assert runtime["exporter"] == f"charm-studio-exporter {charm_studio.__version__}"
    assert runtime["sdk"].startswith("charmos ")
    assert re.match(r"^\d+\.\d+\.\d+", runtime["python"])
    assert start["data"]["config"] == {"required_env": [], "oauth": []}
    assert action["data"] == {"tool": "lookup_invoice", "tool_input": {"number": "INV-7"}}
    assert tool_start["data"] == {
        "tool_name": "lookup_invoice",
        "input_str": "{'number': 'INV-7'}",
        "span_id": "span-1",
    }
    assert tool_end["data"] == {
        "tool_name": "lookup_invoice",
        "output": "content='120.00 EUR, overdue'",
        "span_id": "span-1",
    }
    assert [t["data"] for t in tokens] == [
        {"token": "It ", "call_id": "call-1"},
        {"token": "is ", "call_id": "call-1"},
        {"token": "overdue.", "call_id": "call-1"},
    ]
    assert end["data"] == {
        "outputs": {"status": "success", "output": "It is overdue."},
        "format": "markdown",
    }


def test_requests_are_gzip_ndjson_with_the_api_key(studio):
    full_run(StudioExporter())
    sent_events(studio, 8)

    request = studio.requests[0]
    assert request.headers["Content-Type"] == "application/x-ndjson"
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.headers["Authorization"] == "Bearer csk_test_key"
    assert request.headers["User-Agent"].startswith("charm-studio-exporter/")
    lines = gzip.decompress(request.body).decode().splitlines()
    assert len(lines) == len(request.events)


def test_run_end_sends_the_runs_events_before_it_returns(studio):
    exporter = StudioExporter()
    full_run(exporter)

    # No waiting here: on_run_end itself waited until Studio had them.
    assert [e["type"] for e in studio.events][-1] == "run_end"


def test_a_failed_run_ends_then_errors_with_a_later_seq_and_ts(studio):
    exporter = StudioExporter()
    exporter.on_run_start(run_id="local", inputs={"input": "x"})
    outputs = {"status": "error", "message": "KeyError: 'customer'"}
    exporter.on_run_end(run_id="local", outputs=outputs)
    exporter.on_error(run_id="local", error=Exception("KeyError: 'customer'"))

    _start, end, error = sent_events(studio, 3)
    assert end["type"] == "run_end" and end["data"]["outputs"] == outputs
    assert error["type"] == "error"
    assert (end["seq"], error["seq"]) == (1, 2)
    assert error["ts"] > end["ts"]
    assert error["data"]["error"] == {"type": "KeyError", "message": "'customer'"}


def test_an_error_message_without_a_type_uses_the_type_the_adapter_declared(studio):
    exporter = StudioExporter()
    exporter.on_run_start(run_id="local", inputs={})
    message = "Agent Execution Failed: division by zero"
    outputs = {"status": "error", "error_type": "RuntimeError", "message": message}
    exporter.on_run_end(run_id="local", outputs=outputs)
    exporter.on_error(run_id="local", error=Exception(message))

    error = sent_events(studio, 3)[-1]
    assert error["data"]["error"] == {"type": "RuntimeError", "message": message}


def test_on_error_recovers_type_and_traceback_from_the_tool_error_it_repeats(studio):
    exporter = StudioExporter()
    exporter.on_run_start(run_id="local", inputs={})
    exporter.on_tool_start(tool_name="charge_card", input_str="{'amount': 12}")
    try:
        raise ConnectionError("payment gateway timed out")
    except ConnectionError as exc:
        exporter.on_tool_error(tool_name="charge_card", error=exc)
    message = "payment gateway timed out"
    exporter.on_run_end(run_id="local", outputs={"status": "error", "message": message})
    exporter.on_error(run_id="local", error=Exception(message))

    tool_error, _end, error = sent_events(studio, 5)[2:]
    assert tool_error["type"] == "tool_error"
    assert tool_error["data"]["span_id"] == "span-1"
    assert tool_error["data"]["error"]["type"] == "ConnectionError"
    assert "raise ConnectionError" in tool_error["data"]["error"]["traceback"]
    assert error["data"]["error"] == {**tool_error["data"]["error"]}


def test_a_raised_exception_keeps_its_type_and_traceback(studio):
    exporter = StudioExporter()
    exporter.on_run_start(run_id="local", inputs={})
    try:
        {}["customer"]
    except KeyError as exc:
        exporter.on_error(run_id="local", error=exc)

    error = sent_events(studio, 2)[-1]["data"]["error"]
    assert error["type"] == "KeyError"
    assert error["message"] == "'customer'"
    assert "Traceback (most recent call last)" in error["traceback"]


def test_a_suspended_run_sends_a_status_not_a_run_end(studio):
    exporter = StudioExporter()
    exporter.on_run_start(run_id="local", inputs={})
    outputs = {
        "status": "suspended",
        "output": "Shall I refund 12.00 EUR?",
        "thread_id": "thread-42",
        "next_step": ("approve_refund",),
        "charm_state": "",
    }
    exporter.on_run_end(run_id="local", outputs=outputs)

    suspended = sent_events(studio, 2)[-1]
    assert suspended["type"] == "status"
    assert suspended["data"] == {
        "status": "suspended",
        "thread_id": "thread-42",
        "next_step": "approve_refund",
        "message": "Suspended, waiting for a human: approve_refund",
    }


def test_every_run_start_opens_a_new_run_with_its_own_id(studio):
    exporter = StudioExporter()
    for _ in range(3):
        exporter.on_run_start(run_id="local", inputs={})
        exporter.on_llm_new_token(token="hi")
        exporter.on_run_end(run_id="local", outputs={"status": "success", "output": "hi"})

    events = sent_events(studio, 9)
    run_ids = [e["run_id"] for e in events if e["type"] == "run_start"]
    assert len(set(run_ids)) == 3
    assert all(re.match(r"^invoice-bot-[0-9a-f]{12}$", run_id) for run_id in run_ids)
    assert [e["seq"] for e in events] == [0, 1, 2] * 3
    assert [e["data"].get("call_id") for e in events if e["type"] == "llm_new_token"] == [
        "call-1"
    ] * 3


def test_hooks_called_before_any_run_start_open_a_run(studio):
    exporter = StudioExporter()
    exporter.on_llm_new_token(token="orphan")
    exporter.on_run_end(run_id="local", outputs={"status": "success", "output": "orphan"})

    start, token, end = sent_events(studio, 3)
    assert start["type"] == "run_start" and start["data"]["inputs"] is None
    assert start["agent"]["name"] == "invoice-bot"
    assert token["run_id"] == end["run_id"] == start["run_id"]


def test_environment_comes_from_charm_studio_environment(studio, monkeypatch):
    monkeypatch.setenv("CHARM_STUDIO_ENVIRONMENT", "docker")
    full_run(StudioExporter())

    assert sent_events(studio, 8)[0]["data"]["environment"] == "docker"


def test_without_a_url_nothing_is_sent_and_no_thread_starts():
    threads_before = {t.name for t in threading.enumerate()}
    exporter = StudioExporter()
    full_run(exporter)
    exporter.on_error(run_id="local", error=Exception("boom"))

    assert sender._sender is None
    assert "charm-studio-sender" not in {t.name for t in threading.enumerate()} - threads_before
