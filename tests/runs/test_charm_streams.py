"""What the real `charm run` and the real Cloud Runner print, ingested as it is.

Every agent in `tests.runs.charm_agents` is run once per module by the installed
charmos CLI; its stdout bytes go to `POST /api/v1/ingest` as `text/plain` (the way a
user pipes `charm run` into Studio), or through the real `DockerBackend.stream_logs` as
the runner's SSE. Only the malformed-input tests at the end write lines by hand.
"""

import asyncio
import itertools
from concurrent.futures import ThreadPoolExecutor

import pytest

from runs.ingest.inbox import batch_apply
from runs.maintenance import runs_flag_stalled
from runs.models import ErrorGroup, Event, IngestBatch, LlmCall, Run, ToolSpan
from tests.conftest import wait_for
from tests.runs import charm_agents as agents

INGEST = "/api/v1/ingest"
TOOL_TYPES = ["tool_start", "tool_end", "tool_error"]

CAPTURED = {
    "streamed": agents.STREAMED_AFTER_TOOL,
    "caught": agents.CAUGHT_TOOL_ERROR,
    "escaping": agents.ESCAPING_TOOL_ERROR,
    "crash": agents.CRASH,
    "not_streamed": agents.NOT_STREAMED,
    "artifact": agents.PRINTS_ARTIFACT_STATE,
    "suspended": agents.SUSPENDED,
    "long": agents.LONG_STREAMED,
}


@pytest.fixture(scope="module")
def stdout(tmp_path_factory) -> dict[str, bytes]:
    """What `charm run` printed for each agent: run once for the module (~1 s each)."""
    home = agents.quiet_home(tmp_path_factory.mktemp("home"))
    root = tmp_path_factory.mktemp("agents")
    return {
        name: agents.charm_run(agents.write_agent(root / name, agent), home)
        for name, agent in CAPTURED.items()
    }


def send(api, body: bytes, run_id: str, content_type: str = "text/plain", **headers):
    return api.post(
        INGEST, data=body, content_type=content_type, headers={"X-Charm-Run-Id": run_id, **headers}
    )


def apply_pending() -> None:
    pending = IngestBatch.objects.filter(status="pending").order_by("id")
    for batch_id in pending.values_list("pk", flat=True):
        batch_apply(batch_id)


def ingest(api, body: bytes, run_id: str = "run-1", **headers) -> Run:
    """Send a whole capture (it ends the stream), apply it, return the run."""
    response = send(api, body, run_id, **{"X-Charm-Stream-End": "true", **headers})
    assert response.status_code == 202, response.content
    assert response.json()["rejected"] == []
    apply_pending()
    return Run.objects.get(run_id=run_id)


def read(api, run_id: str) -> dict:
    response = api.get(f"/api/v1/runs/{run_id}")
    assert response.status_code == 200, response.content
    return response.json()


def logs(run: Run) -> list[tuple[str, str]]:
    rows = Event.objects.filter(run_pk=run.pk, type="log").order_by("seq")
    return [(e.data["level"], e.data["message"]) for e in rows]


def spans(run: Run) -> list[ToolSpan]:
    return list(ToolSpan.objects.filter(run=run).order_by("started_at"))


# What a user sees of each real run -------------------------------------------------------


def test_a_streamed_answer_after_a_tool_is_one_tool_span_and_one_llm_call(api, stdout):
    run = ingest(api, stdout["streamed"])

    assert run.status == "succeeded"
    assert run.agent_name == "weather-bot"  # from "✔ Loaded Agent: weather-bot"
    assert run.environment == "local"
    [span] = spans(run)
    assert (span.tool_name, span.status) == ("get_weather", "ok")
    assert span.input_str == "{'city': 'Paris'}"
    assert span.output == "18°C and sunny in Paris"  # the exporter's "..." cut mark is gone
    [call] = LlmCall.objects.filter(run=run)
    assert call.text == agents.WEATHER_ANSWER
    assert call.token_count == stdout["streamed"].count(b'"type": "delta"')
    assert run.outputs == agents.WEATHER_ANSWER
    assert run.tool_usage == {"get_weather": 1}

    detail = read(api, "run-1")
    assert detail["status"] == "succeeded" and detail["agent"]["name"] == "weather-bot"
    assert [c["text"] for c in detail["llm_calls"]] == [agents.WEATHER_ANSWER]
    assert [(s["tool_name"], s["status"]) for s in detail["tool_spans"]] == [("get_weather", "ok")]
    assert detail["tool_usage"] == {"get_weather": 1}
    assert logs(run)[0][1].startswith("Loading Charm project from: ")


def test_a_tool_error_the_agent_catches_fails_the_span_but_not_the_run(api, stdout):
    run = ingest(api, stdout["caught"])

    assert run.status == "succeeded"
    [span] = spans(run)
    assert (span.tool_name, span.status) == ("charge_card", "error")
    assert span.error["message"] == "card declined for 12.50"
    assert run.outputs == "The card was declined; I sent a payment link."
    assert (run.tool_calls, run.tool_errors) == (1, 1)
    assert not ErrorGroup.objects.filter(kind="run").exists()


def test_a_tool_error_that_escapes_fails_the_run_and_opens_an_error_group(api, stdout):
    run = ingest(api, stdout["escaping"])

    assert run.status == "failed"
    assert run.error_message == "Async execution also failed: card declined for 12.50"
    # Charm's LangChain adapter retries a failed invoke with ainvoke: the tool runs twice.
    assert [(s.tool_name, s.status) for s in spans(run)] == [("charge_card", "error")] * 2
    assert run.tool_usage == {"charge_card": 2}
    [group] = ErrorGroup.objects.filter(kind="run")
    assert group.run_count == 1 and run.error_group_id == group.pk
    assert read(api, "run-1")["error"]["message"].endswith("card declined for 12.50")


def test_a_crash_fails_the_run_with_its_error_and_the_sdk_error_log(api, stdout):
    run = ingest(api, stdout["crash"])

    assert run.status == "failed"
    assert (run.error_type, run.error_message) == ("AgentExecutionFailed", "division by zero")
    assert ("error", "Custom Agent crashed: division by zero") in logs(run)
    assert ("info", "checking the ledger") in logs(run)  # the agent's print()
    assert run.error_group_id is not None
    assert read(api, "run-1")["error"] == {
        "type": "AgentExecutionFailed",
        "message": "division by zero",
    }


def test_a_final_that_was_not_streamed_is_the_output_in_markdown(api, stdout):
    run = ingest(api, stdout["not_streamed"])

    assert run.status == "succeeded"
    assert (run.outputs, run.output_format) == ("Invoice **INV-7** is paid.", "markdown")
    assert not LlmCall.objects.filter(run=run).exists()
    assert read(api, "run-1")["output_format"] == "markdown"


def test_prints_an_artifact_and_the_state_are_kept_on_the_run(api, stdout):
    run = ingest(api, stdout["artifact"])

    assert run.status == "succeeded"
    assert run.outputs == "The report is ready."
    printed = [m for level, m in logs(run) if level == "info" and not m.startswith(("{", "Exec"))]
    assert printed[-3:] == ["reading 3 invoices", "writing the report", "report sent"]
    detail = read(api, "run-1")
    assert [(a["name"], a["url"], a["mime"]) for a in detail["artifacts"]] == [
        ("report.pdf", "https://files.example.com/r.pdf", "application/pdf")
    ]
    assert detail["state"] == {"invoices_seen": 3, "cursor": "INV-9"}


def test_a_suspended_run_waits_for_its_human_and_is_never_flagged_stalled(api, stdout):
    run = ingest(api, stdout["suspended"])

    assert (run.status, run.thread_id, run.next_step) == ("suspended", "t-1", "approve refund")
    assert run.outputs == "waiting"
    Run.objects.filter(pk=run.pk).update(last_event_at=run.last_event_at.replace(year=2020))
    runs_flag_stalled()
    detail = read(api, "run-1")
    assert (detail["status"], detail["stalled"]) == ("suspended", False)
    assert (detail["thread_id"], detail["next_step"]) == ("t-1", "approve refund")


def test_a_long_streamed_answer_is_the_runs_output(api, stdout):
    run = ingest(api, stdout["long"])

    assert [c.text for c in LlmCall.objects.filter(run=run)] == [agents.LONG_ANSWER]
    assert run.outputs == agents.LONG_ANSWER


# The Cloud Runner's SSE -------------------------------------------------------------------


def runner_sse(stdout: bytes, exit_code: int) -> list[str]:
    """The frames the real `DockerBackend.stream_logs` sends for a container that
    printed `stdout` and exited with `exit_code` (only the Docker client is stood in)."""
    from charm.runner.backend.base import RunConfig
    from charm.runner.backend.docker import DockerBackend

    class Container:
        def logs(self, **_options):
            yield from stdout.splitlines(keepends=True)

        def wait(self, **_options):
            return {"StatusCode": exit_code}

        def remove(self, **_options):
            pass

    class Containers:
        def run(self, *_args, **_options):
            return Container()

    class DockerClient:
        containers = Containers()

    backend = object.__new__(DockerBackend)
    backend.client = DockerClient()
    config = RunConfig(
        agent_id="weather-bot", run_id="weather-bot_1765000000", input_payload=agents.INPUT,
        env_vars={}, file_urls={}, script_content="charm run .", host_artifact_path="/tmp",
        host_cache_dir="/tmp",
    )  # fmt: skip

    async def frames() -> list[str]:
        return [frame async for frame in backend.stream_logs(config)]

    # A loop of its own, in a thread of its own: another test's loop may be running here.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, frames()).result()


def test_a_runner_stream_of_a_container_killed_with_137_fails_out_of_memory(api, stdout):
    frames = runner_sse(stdout["streamed"], exit_code=137)
    assert all(frame.startswith("data: ") for frame in frames)

    run = ingest(
        api,
        "".join(frames).encode(),
        "weather-bot_1765000000",
        content_type="text/event-stream",
        **{"X-Charm-Agent": "weather-bot", "X-Charm-Environment": "cloud"},
    )

    assert (run.status, run.exit_code, run.environment) == ("failed", 137, "cloud")
    assert run.error_type == "OutOfMemory"
    assert run.error_message.startswith("Execution Failed (Code 137).")
    assert [s.status for s in spans(run)] == ["ok"]
    assert [c.text for c in LlmCall.objects.filter(run=run)] == [agents.WEATHER_ANSWER]
    detail = read(api, "weather-bot_1765000000")
    assert (detail["exit_code"], detail["error"]["type"]) == (137, "OutOfMemory")


# Re-sent and split streams ----------------------------------------------------------------


def snapshot(run_id: str) -> tuple:
    run = Run.objects.get(run_id=run_id)
    tool_spans = [(s.tool_name, s.status, s.input_str, s.output) for s in spans(run)]
    # In stream order: a Charm stream's call id is "stream:<line of its first delta>".
    rows = LlmCall.objects.filter(run=run).values_list("call_id", "text", "token_count")
    calls = [(text, n) for _, text, n in sorted(rows, key=lambda r: int(r[0].split(":")[1]))]
    return (
        run.status,
        run.event_count,
        run.token_count,
        run.tool_usage,
        logs(run),
        tool_spans,
        calls,
    )


def test_the_same_capture_sent_twice_stores_nothing_twice(api, stdout):
    ingest(api, stdout["streamed"])
    before = snapshot("run-1")
    stored = Event.objects.count()

    ingest(api, stdout["streamed"])

    assert snapshot("run-1") == before
    assert Event.objects.count() == stored
    assert IngestBatch.objects.order_by("-id").first().duplicate_count > 0


def send_in_pieces(api, capture: bytes, run_id: str, cuts: list[int], order: str) -> None:
    """Send the capture's lines cut at `cuts`, each piece with its starting line."""
    lines = capture.splitlines(keepends=True)
    bounds = [0, *cuts, len(lines)]
    pieces = [(b"".join(lines[a:b]), a, b == len(lines)) for a, b in itertools.pairwise(bounds)]
    if order == "in reverse":
        pieces.reverse()
    for body, offset, last in pieces:
        headers = {"X-Charm-Stream-Offset": str(offset)}
        if last:
            headers["X-Charm-Stream-End"] = "true"
        assert send(api, body, run_id, **headers).status_code == 202
    apply_pending()


@pytest.mark.parametrize("capture", ["streamed", "artifact"])
@pytest.mark.parametrize("order", ["in order", "in reverse"])
def test_a_capture_sent_in_three_pieces_loses_no_line(api, stdout, capture, order):
    status, _, tokens, usage, log_lines, _, calls = snapshot(
        ingest(api, stdout[capture], "whole").run_id
    )

    send_in_pieces(api, stdout[capture], "pieces", [4, 9], order)

    got = snapshot("pieces")
    assert (got[0], got[2], got[3], got[4]) == (status, tokens, usage, log_lines)
    assert "".join(text for text, _ in got[6]) == "".join(text for text, _ in calls)
    pieces = Run.objects.get(run_id="pieces")
    tool_events = Event.objects.filter(run_pk=pieces.pk, type__in=TOOL_TYPES).count()
    assert tool_events == 2 * len(snapshot("whole")[5])


@pytest.mark.xfail(
    strict=True,
    reason="Charm's 'Tool Output:' names no tool: an output in a later piece than its "
    "'Using Tool:' line is parsed as tool 'unknown', so the span stays open",
)
def test_a_tool_cut_between_its_start_and_output_is_still_one_span(api, stdout):
    lines = stdout["streamed"].splitlines()
    cut = next(i for i, line in enumerate(lines) if b"Tool Output" in line)

    send_in_pieces(api, stdout["streamed"], "pieces", [cut], "in order")

    tool_spans = snapshot("pieces")[5]
    assert tool_spans == [("get_weather", "ok", "{'city': 'Paris'}", "18°C and sunny in Paris")]


# Through a real worker --------------------------------------------------------------------


def test_a_piped_charm_run_is_applied_by_a_real_worker_and_read_back(api, stdout, worker):
    worker()
    assert (
        send(api, stdout["streamed"], "live-1", **{"X-Charm-Stream-End": "true"}).status_code == 202
    )

    def succeeded():
        response = api.get("/api/v1/runs/live-1")
        return (
            response.status_code == 200
            and response.json()["status"] == "succeeded"
            and response.json()
        )

    detail = wait_for(succeeded)
    assert detail["agent"]["name"] == "weather-bot"
    assert detail["outputs"] == agents.WEATHER_ANSWER
    assert [c["text"] for c in detail["llm_calls"]] == [agents.WEATHER_ANSWER]
    assert [s["tool_name"] for s in detail["tool_spans"]] == ["get_weather"]
    assert detail["tool_usage"] == {"get_weather": 1}


# Malformed input: the only hand-written lines ----------------------------------------------


def test_binary_garbage_is_kept_as_log_lines_never_a_5xx(api):
    body = b"\x00\xff\xfe binary \x89PNG\r\n\x1a\nmore\n"
    response = send(api, body, "garbage", **{"X-Charm-Stream-End": "true"})

    assert response.status_code == 202
    apply_pending()
    messages = [m for _, m in logs(Run.objects.get(run_id="garbage"))]
    assert len(messages) == 3 and messages[-1] == "more"
    assert all("\x00" not in m for m in messages)


def test_a_line_over_1_mib_is_refused_by_itself_and_its_neighbours_kept(api):
    body = b"before\n" + b"x" * (1024 * 1024 + 1) + b"\nafter\n"
    response = send(api, body, "big")

    assert response.status_code == 202
    [rejected] = response.json()["rejected"]
    assert rejected["index"] == 1 and "the limit is 1,048,576" in rejected["error"]
    apply_pending()
    assert [m for _, m in logs(Run.objects.get(run_id="big"))] == ["before", "after"]


def test_broken_json_after_the_prefix_and_an_unknown_type_are_kept_and_noted(api):
    body = (
        b'__CHARM_EVENT__{"type": "delta", "content": \n'
        b'__CHARM_EVENT__{"type": "teleport", "content": "x"}\n'
        b"__CHARM_EVENT__[1, 2]\n"
    )
    response = send(api, body, "odd")

    assert response.status_code == 202
    noted = response.json()["noted"]
    assert [n["index"] for n in noted] == [0, 1, 2]
    assert "not valid JSON" in noted[0]["error"]
    assert "unknown Charm event type 'teleport'" in noted[1]["error"]
    assert IngestBatch.objects.get().noted_count == 3
    apply_pending()
    assert len(logs(Run.objects.get(run_id="odd"))) == 3  # no line lost


def test_a_stream_without_a_run_id_or_with_a_bad_offset_gets_a_clear_400(api):
    no_run = api.post(INGEST, data=b"hello\n", content_type="text/plain")
    for offset in ["-3", "abc", "1.5"]:
        bad = send(api, b"hello\n", "r", **{"X-Charm-Stream-Offset": offset})
        assert bad.status_code == 400 and "X-Charm-Stream-Offset" in bad.json()["error"]
    bad_end = send(api, b"hello\n", "r", **{"X-Charm-Stream-End": "maybe"})

    assert no_run.status_code == 400 and "X-Charm-Run-Id" in no_run.json()["error"]
    assert bad_end.status_code == 400 and "X-Charm-Stream-End" in bad_end.json()["error"]
    assert not IngestBatch.objects.exists()


def test_a_stream_that_has_not_ended_stays_running(api, stdout):
    head = stdout["streamed"].split(b'__CHARM_EVENT__{"type": "delta"')[0]
    assert send(api, head, "open").status_code == 202
    apply_pending()

    assert Run.objects.get(run_id="open").status == "running"


def test_a_stream_the_sender_never_ended_stays_running(api, stdout):
    first_delta = stdout["streamed"].index(b'__CHARM_EVENT__{"type": "delta"')
    response = send(api, stdout["streamed"][:first_delta], "unended")
    assert response.status_code == 202
    apply_pending()

    assert Run.objects.get(run_id="unended").status == "running"
