"""Charm's own streams, as real Charm agents and the real runner produce them.

Each agent is a small project run by the real `charm run` (charmos 0.5.2, its LangChain
and custom adapters); its stdout goes to `POST /api/v1/ingest` as it is, the way a
Charm user pipes it. The runner's SSE comes from the real `DockerBackend.stream_logs`
fed a container that prints that stdout and exits 137. Hand-written lines appear only
in the malformed-input tests at the end.
"""

import asyncio
import itertools
import json
import os
import sys
import textwrap
from pathlib import Path
from subprocess import run

import pytest
from django.db import transaction

from runs.ingest import batch_apply
from runs.maintenance import runs_flag_stalled
from runs.models import ErrorGroup, Event, IngestBatch, LlmCall, Run, ToolSpan
from tests.conftest import wait_for
from tests.sdk.test_exporter_charm_run import home  # noqa: F401 (a fixture)

CHARM = Path(sys.executable).with_name("charm")
INGEST = "/api/v1/ingest"

WEATHER = '''
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"18°C and sunny in {city}"


def answer(inputs, config):
    print("looking up the weather")
    seen = get_weather.invoke({"city": "Paris"}, config=config)
    model = GenericFakeChatModel(messages=iter([AIMessage(content="It is 18°C in Paris.")]))
    return {"output": "".join(c.content for c in model.stream(seen, config=config))}


runnable = RunnableLambda(answer)
'''

CAUGHT_TOOL_ERROR = '''
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool


@tool
def charge_card(amount: str) -> str:
    """Charge the customer's card."""
    raise ValueError(f"card declined for {amount}")


def answer(inputs, config):
    try:
        return {"output": charge_card.invoke({"amount": "12.50"}, config=config)}
    except ValueError:
        return {"output": "The card was declined; I sent the customer a payment link."}


runnable = RunnableLambda(answer)
'''

ESCAPING_TOOL_ERROR = CAUGHT_TOOL_ERROR.replace(
    """    try:
        return {"output": charge_card.invoke({"amount": "12.50"}, config=config)}
    except ValueError:
        return {"output": "The card was declined; I sent the customer a payment link."}""",
    """    return {"output": charge_card.invoke({"amount": "12.50"}, config=config)}""",
)

CRASH = """
def run(input):
    print("checking the ledger")
    return 1 / 0
"""

FINAL = """
def run(input):
    return "Invoice **INV-7** is paid."
"""

ARTIFACT_AND_STATE = """
from charm.core.io import CharmEmitter


def run(input):
    print("reading 3 invoices")
    print("writing the report")
    CharmEmitter.emit_artifact("report.pdf", "https://files.example.com/r.pdf", "application/pdf")
    return {"status": "success", "output": "done", "charm_state": {"invoices_seen": 3}}
"""

SUSPENDED = """
def run(input):
    return {"status": "suspended", "thread_id": "t-1", "next_step": "approve the refund",
            "output": "Waiting for approval."}
"""


def write_agent(directory: Path, code: str, *, adapter: str) -> Path:
    directory.mkdir()
    entry_point = "agent:run" if adapter == "custom" else "agent:runnable"
    (directory / "agent.py").write_text(code)
    (directory / "charm.yaml").write_text(
        textwrap.dedent(f"""\
            version: "0.4"
            persona:
              name: billing-bot
              description: Answers billing questions
            interface:
              input: {{type: object}}
              output: {{type: object}}
            runtime:
              adapter:
                type: {adapter}
                entry_point: "{entry_point}"
            """)
    )
    return directory


@pytest.fixture(scope="module")
def captures(tmp_path_factory, home) -> dict[str, bytes]:  # noqa: F811
    """What `charm run` printed for each agent, run once for the module."""
    agents = {
        "weather": (WEATHER, "langchain"),
        "caught": (CAUGHT_TOOL_ERROR, "langchain"),
        "escaping": (ESCAPING_TOOL_ERROR, "langchain"),
        "crash": (CRASH, "custom"),
        "final": (FINAL, "custom"),
        "artifact": (ARTIFACT_AND_STATE, "custom"),
        "suspended": (SUSPENDED, "custom"),
    }
    root = tmp_path_factory.mktemp("agents")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARM_STUDIO_")}
    env["HOME"] = str(home)
    out = {}
    for name, (code, adapter) in agents.items():
        agent = write_agent(root / name, code, adapter=adapter)
        command = [str(CHARM), "run", str(agent), "--json", '{"input": "hello"}']
        result = run(command, cwd=agent, env=env, capture_output=True, timeout=120)
        assert result.returncode == 0, result.stderr.decode()
        out[name] = result.stdout
    return out


def send(api, body: bytes, run_id: str, content_type: str = "text/plain", **headers):
    headers = {"X-Charm-Run-Id": run_id, **headers}
    return api.post(INGEST, data=body, content_type=content_type, headers=headers)


def apply_pending() -> None:
    for batch_id in (
        IngestBatch.objects.filter(status="pending").order_by("id").values_list("pk", flat=True)
    ):
        batch_apply(batch_id)


def ingested(api, body: bytes, run_id: str = "run-1", **headers) -> Run:
    response = send(api, body, run_id, **{"X-Charm-Stream-End": "true", **headers})
    assert response.status_code == 202, response.content
    apply_pending()
    return Run.objects.get(run_id=run_id)


def log_messages(run: Run) -> list[str]:
    rows = Event.objects.filter(run_pk=run.pk, type="log").order_by("seq")
    return [e.data["message"] for e in rows]


def test_a_streamed_answer_after_a_tool_becomes_a_tool_span_and_one_llm_call(api, captures):
    run = ingested(api, captures["weather"])

    assert (run.status, run.agent_name, run.environment) == ("succeeded", "billing-bot", "local")
    [span] = ToolSpan.objects.filter(run=run)
    assert (span.tool_name, span.status, span.input_str) == (
        "get_weather",
        "ok",
        "{'city': 'Paris'}",
    )
    assert span.output == "18°C and sunny in Paris"
    [call] = LlmCall.objects.filter(run=run)
    assert call.text == "It is 18°C in Paris." and call.token_count > 5
    assert run.outputs == "It is 18°C in Paris."  # from `charm run --json`'s result line
    assert run.tool_usage == {"get_weather": 1}
    assert "looking up the weather" in log_messages(run)


def test_a_tool_error_the_agent_catches_fails_the_span_not_the_run(api, captures):
    run = ingested(api, captures["caught"])

    assert run.status == "succeeded"
    [span] = ToolSpan.objects.filter(run=run)
    assert span.status == "error"
    assert span.error["message"] == "card declined for 12.50"


def test_a_tool_error_that_escapes_fails_the_run_and_groups_its_error(api, captures):
    run = ingested(api, captures["escaping"])

    assert run.status == "failed"
    assert "card declined for 12.50" in run.error_message
    assert {s.status for s in ToolSpan.objects.filter(run=run)} == {"error"}
    assert ErrorGroup.objects.filter(project=run.project, kind="run").exists()


def test_a_crash_fails_the_run_with_the_error_and_the_sdk_error_log(api, captures):
    run = ingested(api, captures["crash"])

    assert run.status == "failed"
    assert (run.error_type, run.error_message) == ("AgentExecutionFailed", "division by zero")
    errors = Event.objects.filter(run_pk=run.pk, type="log", data__level="error")
    assert [e.data["message"] for e in errors] == ["Custom Agent crashed: division by zero"]
    assert run.error_group_id is not None


def test_a_final_that_was_not_streamed_is_the_output_with_its_format(api, captures):
    run = ingested(api, captures["final"])

    assert run.status == "succeeded"
    assert (run.outputs, run.output_format) == ("Invoice **INV-7** is paid.", "markdown")
    assert not LlmCall.objects.filter(run=run).exists()


def test_prints_an_artifact_and_the_state_are_kept_on_the_run(api, captures):
    run = ingested(api, captures["artifact"])

    assert run.status == "succeeded"
    assert [m for m in log_messages(run) if m.startswith(("reading", "writing"))] == [
        "reading 3 invoices",
        "writing the report",
    ]
    [artifact] = run.artifacts
    assert (artifact["name"], artifact["mime"]) == ("report.pdf", "application/pdf")
    assert artifact["url"] == "https://files.example.com/r.pdf"
    assert run.state["value"] == {"invoices_seen": 3}


def test_a_suspended_run_waits_with_its_thread_and_is_never_called_stalled(api, captures):
    run = ingested(api, captures["suspended"])

    assert (run.status, run.thread_id, run.next_step) == ("suspended", "t-1", "approve the refund")
    assert run.outputs == "Waiting for approval."
    Run.objects.filter(pk=run.pk).update(last_event_at=run.last_event_at.replace(year=2020))
    runs_flag_stalled()
    run.refresh_from_db()
    assert (run.status, run.stalled) == ("suspended", False)


def runner_sse(stdout: bytes, exit_code: int) -> str:
    """What the real Cloud Runner's Docker backend sends for a container that printed
    `stdout` and exited with `exit_code`."""
    from charm.runner.backend.base import RunConfig
    from charm.runner.backend.docker import DockerBackend

    class Container:
        def logs(self, **_options):
            yield from (line + b"\n" for line in stdout.split(b"\n") if line)

        def wait(self):
            return {"StatusCode": exit_code}

        def remove(self, force=False):
            pass

    class Containers:
        def run(self, *_args, **_options):
            return Container()

    class Client:
        containers = Containers()

    backend = object.__new__(DockerBackend)
    backend.client = Client()
    config = RunConfig(
        agent_id="billing-bot", run_id="billing-bot_1765000000", input_payload={},
        env_vars={}, file_urls={}, script_content="true", host_artifact_path="/tmp",
        host_cache_dir="/tmp",
    )  # fmt: skip

    async def collect() -> list[str]:
        return [frame async for frame in backend.stream_logs(config)]

    return "".join(asyncio.run(collect()))


def test_a_runner_stream_of_a_container_killed_with_137_fails_the_run_out_of_memory(api, captures):
    sse = runner_sse(captures["weather"], exit_code=137)
    assert "internal_run_finished" in sse

    run = ingested(
        api,
        sse.encode(),
        "billing-bot_1765000000",
        content_type="text/event-stream",
        **{"X-Charm-Agent": "billing-bot", "X-Charm-Environment": "cloud"},
    )

    assert (run.status, run.exit_code, run.environment) == ("failed", 137, "cloud")
    assert run.error_type == "OutOfMemory"
    assert run.error_message.startswith("Execution Failed (Code 137).")
    [call] = LlmCall.objects.filter(run=run)
    assert call.text == "It is 18°C in Paris."


def snapshot(run_id: str) -> tuple:
    run = Run.objects.get(run_id=run_id)
    spans = sorted(ToolSpan.objects.filter(run=run).values_list("tool_name", "status"))
    calls = sorted(LlmCall.objects.filter(run=run).values_list("text", "token_count"))
    return (run.status, run.event_count, run.token_count, tuple(log_messages(run)), spans, calls)


def test_a_capture_sent_twice_is_stored_once(api, captures):
    ingested(api, captures["weather"])
    before = snapshot("run-1")

    ingested(api, captures["weather"])

    assert snapshot("run-1") == before
    assert IngestBatch.objects.order_by("-id").first().duplicate_count > 0


@pytest.mark.parametrize("order", ["in order", "reversed"])
def test_a_capture_sent_in_pieces_loses_no_line(api, captures, order):
    lines = captures["artifact"].split(b"\n")
    whole = ingested(api, captures["artifact"], "whole")
    cut = [0, 3, 7, len(lines)]
    pieces = [
        (b"\n".join(lines[a:b]) + b"\n", a, b == len(lines)) for a, b in itertools.pairwise(cut)
    ]
    if order == "reversed":
        pieces.reverse()

    for body, offset, last in pieces:
        headers = {"X-Charm-Stream-Offset": str(offset)}
        if last:
            headers["X-Charm-Stream-End"] = "true"
        assert send(api, body, "pieces", **headers).status_code == 202
    apply_pending()

    assert snapshot("pieces")[3] == snapshot(whole.run_id)[3]  # every log line, in order
    assert snapshot("pieces")[0] == "succeeded"
    assert Run.objects.get(run_id="pieces").artifacts[0]["name"] == "report.pdf"


def test_a_piped_charm_run_is_live_through_a_real_worker(api, captures, worker, project):
    worker()
    response = send(api, captures["weather"], "live-1", **{"X-Charm-Stream-End": "true"})
    assert response.status_code == 202

    detail = wait_for(
        lambda: (
            (r := api.get("/api/v1/runs/live-1")).status_code == 200
            and r.json()["status"] == "succeeded"
            and r.json()
        )
    )
    assert detail["tool_usage"] == {"get_weather": 1}
    assert [s["tool_name"] for s in detail["tool_spans"]] == ["get_weather"]


# Malformed input: hand-written lines ---------------------------------------------------


def test_binary_garbage_is_kept_as_log_lines_not_refused(api):
    run = ingested(api, b"\x00\xff\xfe binary \x89PNG\r\n\x1a\nmore\n")

    messages = log_messages(run)
    assert len(messages) == 3 and messages[2] == "more"
    assert "\x00" not in messages[0] and "binary" in messages[0]


def test_a_line_over_1_mib_is_rejected_by_itself_and_its_neighbours_kept(api):
    body = b"before\n" + b"x" * (1024 * 1024 + 10) + b"\nafter\n"
    response = send(api, body, "big")
    assert response.status_code == 202
    assert response.json()["rejected"][0]["index"] == 1
    assert "the limit is 1,048,576" in response.json()["rejected"][0]["error"]
    apply_pending()
    assert log_messages(Run.objects.get(run_id="big")) == ["before", "after"]


def test_broken_json_after_the_prefix_and_an_unknown_type_are_kept_and_noted(api):
    body = b'__CHARM_EVENT__{"type": "delta", "content": \n__CHARM_EVENT__{"type": "teleport"}\n'
    response = send(api, body, "odd")

    assert response.status_code == 202
    noted = response.json()["noted"]
    assert [n["index"] for n in noted] == [0, 1]
    assert "not valid JSON" in noted[0]["error"] and "unknown Charm event type" in noted[1]["error"]
    assert IngestBatch.objects.get().noted_count == 2
    apply_pending()
    assert len(log_messages(Run.objects.get(run_id="odd"))) == 2


def test_a_stream_without_a_run_id_or_with_a_bad_offset_is_refused_clearly(api):
    no_run = api.post(INGEST, data=b"hello\n", content_type="text/plain")
    bad_offset = send(api, b"hello\n", "r", **{"X-Charm-Stream-Offset": "-3"})
    bad_environment = send(api, b"hello\n", "r", **{"X-Charm-Environment": "mars"})

    assert no_run.status_code == 400 and "X-Charm-Run-Id" in no_run.json()["error"]
    assert bad_offset.status_code == 400 and "X-Charm-Stream-Offset" in bad_offset.json()["error"]
    assert bad_environment.status_code == 400
    assert not IngestBatch.objects.exists()


def test_a_stream_that_never_ends_stays_running(api, captures):
    response = send(api, captures["weather"].split(b'__CHARM_EVENT__{"type": "delta"')[0], "r")
    assert response.status_code == 202
    with transaction.atomic():
        apply_pending()
    assert Run.objects.get(run_id="r").status == "running"
    assert json.loads(IngestBatch.objects.get().payload)[-1]["type"] != "stream_end"
