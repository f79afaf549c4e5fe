"""The exporter plugin inside the real `charm run`, sending to a local Studio stand-in.

Each test writes a small agent project, runs `charm run <dir> --json ...` in a
subprocess with `CHARM_STUDIO_URL` pointing at the stand-in, and reads what arrived.
No database: these are plain functions, without the `db` fixture.
"""

import json
import os
import sys
import textwrap
import time
from pathlib import Path
from subprocess import CompletedProcess, run

import pytest
from charm_studio.testing import FakeStudio

from runs.protocol import parse_body

CHARM = Path(sys.executable).with_name("charm")
INPUT = '{"input": "INV-7"}'
ANSWER = "The invoice is 30 days overdue."

LANGCHAIN_AGENT = f'''
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool


@tool
def lookup_invoice(number: str) -> str:
    """Look up an invoice by its number."""
    return f"Invoice {{number}}: 120.00 EUR, 30 days overdue"


def answer(inputs: dict, config) -> dict:
    found = lookup_invoice.invoke({{"number": inputs["input"]}}, config=config)
    model = GenericFakeChatModel(messages=iter([AIMessage(content="{ANSWER}")]))
    return {{"output": "".join(chunk.content for chunk in model.stream(found, config=config))}}


runnable = RunnableLambda(answer)
'''

FAILING_TOOL_AGENT = '''
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool


@tool
def charge_card(amount: str) -> str:
    """Charge the customer's card."""
    raise ValueError(f"card declined for {amount}")


def answer(inputs: dict, config) -> dict:
    return {"output": charge_card.invoke({"amount": inputs["input"]}, config=config)}


runnable = RunnableLambda(answer)
'''

CRASHING_AGENT = """
def run(inputs):
    print("checking the ledger")
    return 1 / 0
"""


def write_agent(directory: Path, code: str, *, adapter: str, telemetry: bool) -> Path:
    directory.mkdir()
    entry_point = "agent:run" if adapter == "custom" else "agent:runnable"
    (directory / "agent.py").write_text(code)
    (directory / "charm.yaml").write_text(
        textwrap.dedent(f"""\
            version: "0.4"
            persona:
              name: "Invoice Bot"
              version: "1.4.0"
              description: "Answers questions about invoices"
            interface:
              input: {{type: object}}
              output: {{type: object}}
            runtime:
              adapter:
                type: {adapter}
                entry_point: "{entry_point}"
            """)
        + ("  telemetry: [studio]\n" if telemetry else "")
    )
    return directory


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A home directory where the CLI's daily PyPI update check has just been done."""
    home = tmp_path_factory.mktemp("home")
    (home / ".charm").mkdir()
    (home / ".charm" / ".update_check.json").write_text(json.dumps({"last_check": time.time()}))
    return home


@pytest.fixture
def studio():
    with FakeStudio() as fake:
        yield fake


def charm_run(agent: Path, home: Path, url: str | None) -> tuple[CompletedProcess, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARM_STUDIO_")}
    env["HOME"] = str(home)
    if url:
        env["CHARM_STUDIO_URL"] = url
    started = time.perf_counter()
    result = run(
        [str(CHARM), "run", str(agent), "--json", INPUT],
        cwd=agent,
        env=env,
        capture_output=True,
        timeout=120,
    )
    return result, time.perf_counter() - started


def types(events: list[dict]) -> list[str]:
    return [e["type"] for e in events]


def assert_one_ordered_run(events: list[dict]) -> None:
    assert len({e["run_id"] for e in events}) == 1
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert len({e["event_id"] for e in events}) == len(events)
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)


def assert_studio_accepts_every_request(studio: FakeStudio) -> None:
    for request in studio.requests:
        result = parse_body(
            request.body,
            content_type=request.headers["Content-Type"],
            content_encoding=request.headers["Content-Encoding"],
        )
        assert result.rejected == [], result.rejected
        assert len(result.events) == len(request.events)


def test_charm_run_sends_a_complete_run(tmp_path, home, studio):
    agent = write_agent(tmp_path / "bot", LANGCHAIN_AGENT, adapter="langchain", telemetry=True)

    result, _ = charm_run(agent, home, studio.url)

    assert result.returncode == 0, result.stderr.decode()
    events = studio.events
    tokens = [e for e in events if e["type"] == "llm_new_token"]
    assert types(events) == ["run_start", "tool_start", "tool_end"] + ["llm_new_token"] * len(
        tokens
    ) + ["run_end"]
    assert_one_ordered_run(events)
    start, tool_start, tool_end = events[:3]
    assert start["agent"] == {"name": "Invoice Bot", "version": "1.4.0"}
    assert start["data"]["inputs"] == {"input": "INV-7"}
    assert start["data"]["runtime"]["sdk"].startswith("charmos ")
    assert tool_start["data"]["tool_name"] == tool_end["data"]["tool_name"] == "lookup_invoice"
    assert tool_start["data"]["span_id"] == tool_end["data"]["span_id"]
    assert "INV-7: 120.00 EUR" in tool_end["data"]["output"]
    assert "".join(t["data"]["token"] for t in tokens) == ANSWER
    assert len({t["data"]["call_id"] for t in tokens}) == 1
    assert events[-1]["data"]["outputs"] == {"status": "success", "output": ANSWER}
    assert_studio_accepts_every_request(studio)


def test_a_crashing_agent_ends_its_run_then_fails_it(tmp_path, home, studio):
    agent = write_agent(tmp_path / "bot", CRASHING_AGENT, adapter="custom", telemetry=True)

    result, _ = charm_run(agent, home, studio.url)

    assert result.returncode == 0  # Charm exits 0 after an agent error
    events = studio.events
    assert types(events) == ["run_start", "run_end", "error"]
    assert_one_ordered_run(events)
    end, error = events[1:]
    assert end["data"]["outputs"]["status"] == "error"
    assert error["seq"] > end["seq"] and error["ts"] > end["ts"]
    assert error["data"]["error"] == {
        "type": "RuntimeError",  # what the custom adapter declares for any crash
        "message": "Agent Execution Failed: division by zero",
    }
    assert_studio_accepts_every_request(studio)


def test_a_tool_that_raises_gives_the_run_its_exception_type_and_traceback(tmp_path, home, studio):
    agent = write_agent(tmp_path / "bot", FAILING_TOOL_AGENT, adapter="langchain", telemetry=True)

    result, _ = charm_run(agent, home, studio.url)

    assert result.returncode == 0
    events = studio.events
    assert_one_ordered_run(events)
    tool_errors = [e for e in events if e["type"] == "tool_error"]
    assert tool_errors and tool_errors[0]["data"]["error"]["type"] == "ValueError"
    assert types(events)[-2:] == ["run_end", "error"]
    crash = events[-1]["data"]["error"]
    assert crash["type"] == "ValueError"
    assert crash["message"].endswith("card declined for INV-7")
    assert 'raise ValueError(f"card declined for {amount}")' in crash["traceback"]
    assert_studio_accepts_every_request(studio)


@pytest.mark.parametrize("agent_kind", ["langchain", "crashing"])
@pytest.mark.parametrize("trouble", ["port closed", "not answering"])
def test_a_studio_that_is_down_changes_neither_output_nor_exit_code(
    tmp_path, home, studio, agent_kind, trouble
):
    code, adapter = (
        (LANGCHAIN_AGENT, "langchain") if agent_kind == "langchain" else (CRASHING_AGENT, "custom")
    )
    plain = write_agent(tmp_path / "plain", code, adapter=adapter, telemetry=False)
    plugged = write_agent(tmp_path / "plugged", code, adapter=adapter, telemetry=True)
    if trouble == "port closed":
        studio.close()
    else:
        studio.hang()

    # Each side's fastest of three runs, taken in turns: a shared machine makes single
    # timings jumpy, and a slow spell then falls on both sides alike.
    without, plugged_in = [], []
    for _ in range(3):
        without.append(charm_run(plain, home, None))
        plugged_in.append(charm_run(plugged, home, studio.url))

    for (result, _), (baseline, _) in zip(plugged_in, without, strict=True):
        assert result.returncode == baseline.returncode
        assert result.stdout.replace(b"plugged", b"plain") == baseline.stdout
    slower = min(s for _, s in plugged_in) - min(s for _, s in without)
    assert slower <= 1.5, ([s for _, s in plugged_in], [s for _, s in without])


def test_a_429_is_retried_and_nothing_is_lost(tmp_path, home, studio):
    studio.answer_next(429, retry_after="1")
    agent = write_agent(tmp_path / "bot", LANGCHAIN_AGENT, adapter="langchain", telemetry=True)

    result, _ = charm_run(agent, home, studio.url)

    assert result.returncode == 0
    refused, *accepted = studio.requests
    assert refused.status == 429 and all(r.status == 202 for r in accepted)
    events = studio.events
    assert types(events)[0] == "run_start" and types(events)[-1] == "run_end"
    assert_one_ordered_run(events)
    assert {e["event_id"] for e in refused.events} <= {e["event_id"] for e in events}
