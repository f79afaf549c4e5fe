"""Delivery: retries, refusals, a full buffer, and bounded waits when Studio is down."""

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import charm_studio
from charm_studio import StudioExporter

SDK_DIR = str(Path(charm_studio.__file__).resolve().parent.parent)
DROP_MESSAGE = (
    "charm-studio-exporter dropped {} events ({} tokens) while Studio was unreachable or slow"
)


def start_run(tokens: int = 0) -> StudioExporter:
    exporter = StudioExporter()
    exporter.on_run_start(run_id="local", inputs={"input": "x"})
    for n in range(tokens):
        exporter.on_llm_new_token(token=f"t{n} ")
    return exporter


@pytest.mark.parametrize("status", [429, 503])
def test_a_busy_studio_is_retried_after_its_retry_after(studio, status):
    studio.answer_next(status, retry_after="1")
    start_run(tokens=3)

    assert charm_studio.flush(timeout=5)
    first, second = studio.requests
    assert (first.status, second.status) == (status, 202)
    assert 0.9 <= second.received_at - first.received_at < 2.5
    # The same events again, under the same ids: Studio keeps them once.
    assert [e["event_id"] for e in second.events] == [e["event_id"] for e in first.events]
    assert len(studio.events) == 4


@pytest.mark.parametrize("status", [408, 500, 502, 504])
def test_a_failing_studio_is_retried_with_backoff(studio, status):
    studio.answer_next(status, times=2)
    start_run(tokens=1)

    assert charm_studio.flush(timeout=10)
    assert [r.status for r in studio.requests] == [status, status, 202]
    assert [e["type"] for e in studio.events] == ["run_start", "llm_new_token"]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_a_refusal_is_not_retried_and_is_logged_once(studio, status, caplog):
    studio.answer_next(status, times=2)
    start_run()
    assert charm_studio.flush(timeout=5)
    start_run()
    assert charm_studio.flush(timeout=5)

    assert [r.status for r in studio.requests] == [status, status]
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1
    assert refusals[0].name == "charm_studio" and refusals[0].levelno == logging.WARNING
    assert f"HTTP {status}" in refusals[0].getMessage()


def test_a_refused_key_says_which_setting_to_check(studio, caplog):
    studio.answer_next(401)
    start_run()
    charm_studio.flush(timeout=5)

    assert "check CHARM_STUDIO_API_KEY" in caplog.text


def stall(studio) -> None:
    """Make the sender hang on a request, so that what follows piles up in the buffer."""
    studio.hang()
    assert not charm_studio.flush(timeout=0.3)


def test_a_full_buffer_sheds_tokens_first_and_tells_studio(studio, monkeypatch):
    monkeypatch.setenv("CHARM_STUDIO_BUFFER", "50")
    exporter = start_run()
    stall(studio)
    exporter.on_tool_start(tool_name="search", input_str="overdue")
    for n in range(200):
        exporter.on_llm_new_token(token=f"t{n} ")
    exporter.on_agent_action(tool="search", tool_input="again")
    exporter.on_tool_end(tool_name="search", output="3 hits")
    studio.release()

    assert charm_studio.flush(timeout=5)
    events = studio.events
    assert [e["type"] for e in events if e["type"] != "llm_new_token"] == [
        "run_start",
        "tool_start",
        "agent_action",
        "tool_end",
        "log",
    ]
    tokens = [e["data"]["token"] for e in events if e["type"] == "llm_new_token"]
    assert tokens == [f"t{n} " for n in range(200 - 47, 200)]  # the newest 47 are kept
    report = events[-1]
    assert report["data"] == {
        "message": DROP_MESSAGE.format(153, 153),
        "level": "warning",
        "stream": "stderr",
        "logger": "charm_studio",
    }
    assert report["run_id"] == events[0]["run_id"]
    assert report["seq"] == max(e["seq"] for e in events[:-1]) + 1
    assert report["ts"] > max(e["ts"] for e in events[:-1])


def test_with_no_tokens_to_shed_the_oldest_other_events_go(studio, monkeypatch):
    monkeypatch.setenv("CHARM_STUDIO_BUFFER", "10")
    exporter = start_run()
    stall(studio)
    for n in range(30):
        exporter.on_agent_action(tool=f"step{n}", tool_input=n)
    for n in range(5):  # a full buffer of other events takes no new token
        exporter.on_llm_new_token(token=f"t{n}")
    studio.release()

    assert charm_studio.flush(timeout=5)
    events = studio.events
    assert [e["data"]["tool"] for e in events if e["type"] == "agent_action"] == [
        f"step{n}" for n in range(20, 30)
    ]
    assert events[-1]["data"]["message"] == DROP_MESSAGE.format(25, 5)


def test_each_run_that_lost_events_gets_its_own_report(studio, monkeypatch):
    monkeypatch.setenv("CHARM_STUDIO_BUFFER", "10")
    first, second = start_run(), start_run()
    stall(studio)
    for n in range(15):
        first.on_llm_new_token(token=f"a{n}")
        second.on_llm_new_token(token=f"b{n}")
    studio.release()

    assert charm_studio.flush(timeout=5)
    reports = {e["run_id"]: e["data"]["message"] for e in studio.events if e["type"] == "log"}
    assert len(reports) == 2
    total = sum(int(message.split()[2]) for message in reports.values())
    assert total == 30 - 10


def test_a_run_end_returns_at_once_when_nothing_listens(closed_port, monkeypatch):
    monkeypatch.setenv("CHARM_STUDIO_URL", f"http://127.0.0.1:{closed_port}")
    exporter = start_run(tokens=10)
    started = time.perf_counter()
    exporter.on_run_end(run_id="local", outputs={"status": "error", "message": "boom"})
    exporter.on_error(run_id="local", error=Exception("boom"))

    assert time.perf_counter() - started < 0.5


def test_waiting_for_a_studio_that_does_not_answer_is_bounded(studio):
    exporter = start_run(tokens=10)
    studio.hang()
    started = time.perf_counter()
    exporter.on_run_end(run_id="local", outputs={"status": "error", "message": "boom"})
    exporter.on_error(run_id="local", error=Exception("boom"))
    waited = time.perf_counter() - started

    assert 0.8 < waited < 1.5  # one second in all, for run end and error together
    # Studio still does not answer: the next run does not wait again.
    second = start_run(tokens=10)
    started = time.perf_counter()
    second.on_run_end(run_id="local", outputs={"status": "success", "output": "ok"})
    assert time.perf_counter() - started < 0.2


def test_a_studio_that_answers_again_gets_the_events_it_missed(studio):
    exporter = start_run(tokens=3)
    studio.hang()
    exporter.on_run_end(run_id="local", outputs={"status": "success", "output": "ok"})
    studio.release()

    assert charm_studio.flush(timeout=5)
    assert [e["type"] for e in studio.events][-1] == "run_end"
    assert len({e["event_id"] for e in studio.events}) == 5


AGENT_SCRIPT = """
from charm_studio import StudioExporter
exporter = StudioExporter()
exporter.on_run_start(run_id="local", inputs={"input": "x"})
for token in ("a", "b"):
    exporter.on_llm_new_token(token=token)
print("done")
"""


def run_script(env: dict) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, **env, "PYTHONPATH": SDK_DIR}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", AGENT_SCRIPT], env=env, capture_output=True, timeout=60
    )
    return result, time.perf_counter() - started


def test_events_still_buffered_at_exit_are_sent_before_the_process_ends(studio):
    result, _ = run_script({})

    assert (result.returncode, result.stdout) == (0, b"done\n")
    assert [e["type"] for e in studio.events] == ["run_start", "llm_new_token", "llm_new_token"]


def test_exit_waits_at_most_about_a_second_for_a_studio_that_does_not_answer(studio):
    baseline, baseline_seconds = run_script({"CHARM_STUDIO_URL": ""})
    studio.hang()
    result, seconds = run_script({})

    assert (result.returncode, result.stdout) == (baseline.returncode, baseline.stdout)
    assert b"Fatal Python error" not in result.stderr
    assert seconds - baseline_seconds < 1.5


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_sends_its_events_through_a_sender_of_its_own(studio):
    exporter = start_run()
    assert charm_studio.flush(timeout=5)
    pid = os.fork()
    if pid == 0:  # the child: the parent's sender thread does not exist here
        sent = False
        try:
            exporter.on_llm_new_token(token="from the child")
            sent = charm_studio.flush(timeout=5)
        finally:
            os._exit(0 if sent else 1)
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert [e["data"].get("token") for e in studio.events] == [None, "from the child"]
