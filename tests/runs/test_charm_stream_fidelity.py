"""Where real Charm output is awkward: wrapped result lines, runner timings, captures
re-sent before they were applied, pieces out of order, and input that is not Charm.

`tests/runs/test_charm_streams.py` covers what a user sees of each kind of run. This
module covers the edges found in real `charm run` output and in the real
`DockerBackend.stream_logs`: every Charm line here comes from them, except in the
malformed-input tests at the end.
"""

import asyncio
import itertools
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from runs.ingest.inbox import batch_apply
from runs.models import Event, IngestBatch, LlmCall, Run, ToolSpan
from runs.selectors.health import ingest_health
from tests.conftest import wait_for
from tests.runs import charm_agents as agents

INGEST = "/api/v1/ingest"

LONG_SUSPENDED = agents.Agent(
    "refund-bot",
    "custom",
    """
def run(inputs):
    return {"status": "suspended", "thread_id": "thread-2026-11-refund-0042",
            "next_step": "a human approves the refund of 120.00 EUR to the customer",
            "output": "Waiting for approval of the refund."}
""",
)

CAPTURED = {
    "streamed": agents.STREAMED_AFTER_TOOL,
    "long": agents.LONG_STREAMED,
    "artifact": agents.PRINTS_ARTIFACT_STATE,
    "suspended": LONG_SUSPENDED,
    "crash": agents.CRASH,
}


@pytest.fixture(scope="module")
def stdout(tmp_path_factory) -> dict[str, bytes]:
    """What `charm run` printed for each agent: all run at once, once for the module."""
    home = agents.quiet_home(tmp_path_factory.mktemp("home"))
    root = tmp_path_factory.mktemp("agents")

    def capture(item):
        name, agent = item
        return name, agents.charm_run(agents.write_agent(root / name, agent), home)

    with ThreadPoolExecutor(max_workers=len(CAPTURED)) as pool:
        return dict(pool.map(capture, CAPTURED.items()))


def send(api, body: bytes, run_id: str, content_type: str = "text/plain", **headers):
    return api.post(
        INGEST, data=body, content_type=content_type, headers={"X-Charm-Run-Id": run_id, **headers}
    )


def send_ok(api, body: bytes, run_id: str, **headers) -> dict:
    response = send(api, body, run_id, **headers)
    assert response.status_code == 202, response.content
    return response.json()


def apply_pending() -> None:
    pending = IngestBatch.objects.filter(status="pending").order_by("id")
    for batch_id in pending.values_list("pk", flat=True):
        batch_apply(batch_id)


def ingest(api, body: bytes, run_id: str = "run-1", **headers) -> Run:
    answer = send_ok(api, body, run_id, **{"X-Charm-Stream-End": "true", **headers})
    assert answer["rejected"] == []
    apply_pending()
    return Run.objects.get(run_id=run_id)


def log_messages(run: Run) -> list[str]:
    rows = Event.objects.filter(run_pk=run.pk, type="log").order_by("seq")
    return [e.data["message"] for e in rows]


def events_read(api, run_id: str) -> list[dict]:
    response = api.get(f"/api/v1/runs/{run_id}/events?limit=5000")
    assert response.status_code == 200, response.content
    return response.json()["events"]


def lines_of(capture: bytes) -> list[bytes]:
    return capture.splitlines(keepends=True)


# `charm run --json` prints its result through Rich, wrapped at 80 columns ----------------


def test_the_result_line_of_a_long_answer_really_is_wrapped_and_loses_a_space(stdout):
    first, second = stdout["long"].splitlines()[-2:]

    # The break fell on a space at column 81: Rich dropped it.
    assert len(first) == 80 and first.startswith(b'{"status": "success"')
    assert not first.endswith(b" ") and not second.startswith(b" ")
    expected = {"status": "success", "output": agents.LONG_ANSWER}
    assert json.loads(first + b" " + second) == expected


def test_a_long_streamed_answer_wrapped_over_two_lines_is_the_runs_output(api, stdout):
    run = ingest(api, stdout["long"])

    assert (run.status, run.outputs) == ("succeeded", agents.LONG_ANSWER)
    assert [c.text for c in LlmCall.objects.filter(run=run)] == [agents.LONG_ANSWER]
    assert not [m for m in log_messages(run) if agents.LONG_ANSWER[-20:] in m]


def test_a_wrapped_result_with_state_leaves_no_fragment_among_the_logs(api, stdout):
    run = ingest(api, stdout["artifact"])

    assert run.outputs == "The report is ready." and run.output_format == "markdown"
    assert run.state["value"] == {"invoices_seen": 3, "cursor": "INV-9"}
    assert not [m for m in log_messages(run) if m.startswith("{")]


def test_a_wrapped_suspended_result_is_one_log_line(api, stdout):
    run = ingest(api, stdout["suspended"])

    assert (run.status, run.thread_id) == ("suspended", "thread-2026-11-refund-0042")
    assert run.next_step == "a human approves the refund of 120.00 EUR to the customer"
    [result] = [m for m in log_messages(run) if m.startswith("{")]
    assert json.loads(result)["next_step"] == run.next_step


# The Cloud Runner's SSE: its own timing and exit code -------------------------------------


def runner_sse(stdout: bytes, exit_code: int, *, chunk: int = 200) -> list[str]:
    """The frames the real `DockerBackend.stream_logs` sends for a container that wrote
    `stdout` (read in `chunk`-byte reads, not lines) and exited with `exit_code`."""
    from charm.runner.backend.base import RunConfig
    from charm.runner.backend.docker import DockerBackend

    class Container:
        def logs(self, **_options):
            for start in range(0, len(stdout), chunk):
                time.sleep(0.01)  # the container takes its time: the runner times it
                yield stdout[start : start + chunk]

        def wait(self, **_options):
            return {"StatusCode": exit_code}

        def remove(self, **_options):
            pass

    class Containers:
        def run(self, *_args, **_options):
            return Container()

    class DockerClient:
        containers = Containers()

    backend = object.__new__(DockerBackend)  # its __init__ needs the docker package
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


def frame_data(frame: str) -> dict:
    return json.loads(frame.removeprefix("data: "))


def killed_mid_answer(stdout: bytes) -> bytes:
    """What the container had written when the kernel killed it: up to the third token."""
    lines = lines_of(stdout)
    deltas = [i for i, line in enumerate(lines) if b'"type": "delta"' in line]
    return b"".join(lines[: deltas[2] + 1])


def ingest_runner(api, frames: list[str], run_id: str = "weather-bot_1765000000") -> Run:
    headers = {"X-Charm-Agent": "weather-bot", "X-Charm-Environment": "cloud"}
    return ingest(
        api, "".join(frames).encode(), run_id, content_type="text/event-stream", **headers
    )


def test_a_container_killed_mid_answer_fails_out_of_memory_with_the_runners_duration(api, stdout):
    frames = runner_sse(killed_mid_answer(stdout["streamed"]), exit_code=137)
    finished = frame_data(frames[-1])
    assert finished["type"] == "internal_run_finished"

    run = ingest_runner(api, frames)

    assert (run.status, run.exit_code, run.error_type) == ("failed", 137, "OutOfMemory")
    assert run.error_message.startswith("Execution Failed (Code 137).")
    assert run.duration_ms == finished["content"]["duration_ms"]
    assert run.status_message == "The process was killed (exit code 137): likely out of memory."
    [span] = ToolSpan.objects.filter(run=run)
    assert (span.tool_name, span.status) == ("get_weather", "ok")
    [call] = LlmCall.objects.filter(run=run)
    assert call.text == "It is 18°C"[: len(call.text)] and call.token_count == 3


def test_a_container_that_exits_0_succeeds_with_the_runners_duration(api, stdout):
    frames = runner_sse(stdout["streamed"], exit_code=0)
    reported = frame_data(frames[-1])["content"]["duration_ms"]

    run = ingest_runner(api, frames)

    assert (run.status, run.exit_code, run.error_type) == ("succeeded", 0, "")
    assert run.duration_ms == reported
    detail = api.get(f"/api/v1/runs/{run.run_id}").json()
    assert (detail["duration_ms"], detail["exit_code"]) == (reported, 0)


def test_the_runners_wrapped_sdk_error_line_is_an_error_log(api, stdout):
    frames = runner_sse(stdout["crash"], exit_code=0)
    assert any("[charm] ERROR:" in frame_data(f).get("content", "") for f in frames[:-1])

    run = ingest_runner(api, frames)

    levels = {
        e.data["message"]: e.data["level"] for e in Event.objects.filter(run_pk=run.pk, type="log")
    }
    assert levels["Custom Agent crashed: division by zero"] == "error"
    assert levels["checking the ledger"] == "info"
    assert (run.status, run.error_type) == ("failed", "AgentExecutionFailed")


# Re-sent captures and pieces ---------------------------------------------------------------


def snapshot(run: Run) -> tuple:
    run.refresh_from_db()
    calls = sorted(LlmCall.objects.filter(run=run).values_list("text", "token_count"))
    tool_spans = sorted(
        ToolSpan.objects.filter(run=run).values_list("tool_name", "status", "input_str")
    )
    return (
        run.status,
        run.event_count,
        run.token_count,
        run.tool_calls,
        run.tool_usage,
        run.outputs,
        log_messages(run),
        calls,
        tool_spans,
        Event.objects.filter(run_pk=run.pk).count(),
    )


def test_a_capture_sent_twice_before_either_is_applied_stores_nothing_twice(api, stdout):
    whole = snapshot(ingest(api, stdout["streamed"], "once"))

    for _ in range(2):
        send_ok(api, stdout["streamed"], "twice", **{"X-Charm-Stream-End": "true"})
    apply_pending()  # one worker takes both waiting batches in one apply

    assert snapshot(Run.objects.get(run_id="twice")) == whole


def pieces(capture: bytes, cuts: list[int]) -> list[tuple[bytes, int, bool]]:
    lines = lines_of(capture)
    bounds = [0, *cuts, len(lines)]
    return [(b"".join(lines[a:b]), a, b == len(lines)) for a, b in itertools.pairwise(bounds)]


def send_pieces(api, run_id: str, parts: list[tuple[bytes, int, bool]]) -> None:
    for body, offset, last in parts:
        headers = {"X-Charm-Stream-Offset": str(offset)}
        if last:
            headers["X-Charm-Stream-End"] = "true"
        send_ok(api, body, run_id, **headers)
        apply_pending()  # each piece applied before the next arrives, as when live


def test_pieces_sent_in_order_read_back_in_stream_order(api, stdout):
    send_pieces(api, "pieces", pieces(stdout["artifact"], [3, 7]))

    events = events_read(api, "pieces")
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert Run.objects.get(run_id="pieces").status == "succeeded"


@pytest.mark.xfail(
    strict=True,
    reason="a stream line is dated when it is received: pieces sent in reverse read back "
    "piece by piece, the last piece first (the events API and the timeline sort by ts)",
)
def test_pieces_sent_in_reverse_read_back_in_stream_order(api, stdout):
    send_pieces(api, "pieces", pieces(stdout["artifact"], [3, 7])[::-1])

    events = events_read(api, "pieces")
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)


def test_a_wrapped_result_cut_between_two_pieces_is_two_log_lines_and_no_output(api, stdout):
    # The sender cut inside the one line Rich printed as two: nothing is lost, but the
    # output of a streamed answer is only on that line.
    cut = len(lines_of(stdout["long"])) - 1

    send_pieces(api, "pieces", pieces(stdout["long"], [cut]))

    run = Run.objects.get(run_id="pieces")
    assert (run.status, run.outputs) == ("succeeded", None)
    first, second = log_messages(run)[-2:]
    assert json.loads(f"{first} {second}")["output"] == agents.LONG_ANSWER


def test_a_cut_inside_the_streamed_answer_makes_two_llm_calls_of_the_whole_text(api, stdout):
    lines = lines_of(stdout["streamed"])
    deltas = [i for i, line in enumerate(lines) if b'"type": "delta"' in line]
    whole = snapshot(ingest(api, stdout["streamed"], "whole"))

    send_pieces(api, "pieces", pieces(stdout["streamed"], [deltas[len(deltas) // 2]]))

    got = snapshot(Run.objects.get(run_id="pieces"))
    calls = LlmCall.objects.filter(run__run_id="pieces").order_by("first_token_at")
    assert len(calls) == 2  # each piece's deltas are a call: nothing marks where one ends
    assert "".join(c.text for c in calls) == agents.WEATHER_ANSWER
    assert sum(c.token_count for c in calls) == len(deltas) == got[2] == whole[2]
    assert got[:2] + got[3:7] == whole[:2] + whole[3:7]  # status, counts, output, logs


# Input that is not Charm: a 4xx or a kept, noted line, never a 5xx ------------------------


def test_noted_lines_are_counted_on_the_ingest_health_page(api, project):
    body = (
        b'__CHARM_EVENT__{"type": "delta", "content": \n'
        b'__CHARM_EVENT__{"type": "teleport", "content": "x"}\n'
        b'__CHARM_EVENT__{"type": "artifact", "content": {"url": "https://x.test/a"}}\n'
    )
    answer = send_ok(api, body, "odd")

    assert [n["index"] for n in answer["noted"]] == [0, 1, 2]
    batch = IngestBatch.objects.get()
    assert (batch.noted_count, batch.rejected_count) == (3, 0)
    assert all(r["kept"] for r in batch.rejections)
    reasons = [r.reason for r in ingest_health(project=project).reasons]
    assert len(reasons) == 3 and any("unknown Charm event type" in r for r in reasons)


def test_sse_data_that_is_not_a_charm_event_is_kept_and_noted(api):
    body = b'data: not json\n\ndata: {"no": "type"}\n\n: heartbeat\n\ndata: [1]\n\n'

    answer = send_ok(api, body, "sse-odd", content_type="text/event-stream")

    assert [n["index"] for n in answer["noted"]] == [0, 2, 6]
    apply_pending()
    assert log_messages(Run.objects.get(run_id="sse-odd")) == [
        "not json",
        '{"no": "type"}',
        "[1]",
    ]


def noise(n: int) -> bytes:
    """Random bytes; every other body also holds Charm prefixes before broken JSON."""
    generator = random.Random(20261206 + n)
    body = generator.randbytes(generator.randrange(1, 2000))
    if n % 2:
        body = b"__CHARM_EVENT__" + body + b"\n::CHARM_EVENT::{" + body[:50]
    return body


def stdout_lines(body: bytes) -> list[str]:
    """The lines of a text/plain body that carry anything: each one must be kept."""
    text = body.decode("utf-8", "replace").removeprefix("\ufeff")
    return [line for line in text.split("\n") if line.rstrip("\r").strip()]


@pytest.mark.parametrize("content_type", ["text/plain", "text/event-stream"])
def test_random_bytes_are_never_a_5xx_and_lose_no_line(api, content_type):
    for n in range(20):
        response = send(api, noise(n), f"noise-{n}", content_type)
        assert response.status_code == 202, (n, response.content)
    apply_pending()

    assert not IngestBatch.objects.exclude(status="applied").exists()
    if content_type == "text/plain":
        for n in range(20):
            run = Run.objects.get(run_id=f"noise-{n}")
            assert run.event_count == len(stdout_lines(noise(n))), n


@pytest.mark.parametrize(
    "headers, named",
    [
        ({"X-Charm-Stream-Offset": str(2**62)}, "X-Charm-Stream-Offset"),
        ({"X-Charm-Stream-Offset": "١٢"}, "X-Charm-Stream-Offset"),  # Arabic-Indic digits
        ({"X-Charm-Environment": "mars"}, "X-Charm-Environment"),
        ({"X-Charm-Agent": "   "}, "X-Charm-Agent"),
        ({"X-Charm-Run-Id": "r" * 129}, "X-Charm-Run-Id"),
    ],
)
def test_a_bad_stream_header_is_a_400_naming_it(api, headers, named):
    response = send(api, b"hello\n", "r", **headers)

    assert response.status_code == 400
    assert named in response.json()["error"]
    assert not IngestBatch.objects.exists()


# Through a real worker ---------------------------------------------------------------------


def test_a_runner_stream_and_a_long_answer_are_applied_by_a_real_worker(api, stdout, worker):
    worker()
    frames = runner_sse(killed_mid_answer(stdout["streamed"]), exit_code=137)
    reported = frame_data(frames[-1])["content"]["duration_ms"]
    headers = {"X-Charm-Agent": "weather-bot", "X-Charm-Stream-End": "true"}
    send_ok(api, "".join(frames).encode(), "killed", content_type="text/event-stream", **headers)
    send_ok(api, stdout["long"], "long", **{"X-Charm-Stream-End": "true"})

    def settled(run_id: str):
        detail = api.get(f"/api/v1/runs/{run_id}").json()
        return detail if detail.get("status") in ("failed", "succeeded") else None

    killed, long = wait_for(lambda: settled("killed")), wait_for(lambda: settled("long"))
    assert (killed["status"], killed["exit_code"]) == ("failed", 137)
    assert killed["error"]["type"] == "OutOfMemory" and killed["duration_ms"] == reported
    assert (long["status"], long["outputs"]) == ("succeeded", agents.LONG_ANSWER)
    assert long["agent"]["name"] == "ledger-bot"
