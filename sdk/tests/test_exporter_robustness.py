"""The exporter never raises into the agent, and never sends what Studio would refuse."""

import json
import logging
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import charm_studio
from charm_studio import StudioExporter, payload
from charm_studio import exporter as exporter_module

SDK_DIR = str(Path(charm_studio.__file__).resolve().parent.parent)


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    __repr__ = __str__


class Falsy:
    def __bool__(self) -> bool:
        raise ValueError("truth of an array is ambiguous")


def self_containing() -> list:
    loop: list = [1]
    loop.append(loop)
    return loop


GARBAGE = [
    None,
    42,
    math.nan,
    float("inf"),
    b"\x00\xffbytes",
    "nul\x00char",
    "lone \ud800 surrogate",
    Unprintable(),
    Falsy(),
    self_containing(),
    {1: "int key", (2, 3): {"nested": {"deeper": [math.nan]}}},
    {"x" * 10: object()},
    object(),
    ValueError("not raised"),
    type,
]


@pytest.mark.parametrize("garbage", GARBAGE, ids=lambda g: type(g).__name__)
def test_no_hook_raises_or_fails_on_garbage_arguments(studio, garbage, monkeypatch, caplog):
    failures = []
    monkeypatch.setattr(exporter_module, "_internal_error", failures.append)
    exporter = StudioExporter()
    exporter.on_run_start(run_id=garbage, inputs=garbage)
    exporter.on_tool_start(tool_name=garbage, input_str=garbage)
    exporter.on_tool_end(tool_name=garbage, output=garbage)
    exporter.on_tool_start(tool_name=garbage, input_str=garbage)
    exporter.on_tool_error(tool_name=garbage, error=garbage)
    exporter.on_llm_new_token(token=garbage)
    exporter.on_agent_action(tool=garbage, tool_input=garbage)
    exporter.on_run_end(run_id=garbage, outputs=garbage)
    exporter.on_error(run_id=garbage, error=garbage)
    exporter.on_llm_new_token(garbage, unexpected="keyword", another=garbage)
    exporter.on_tool_end()

    assert charm_studio.flush(timeout=5)
    assert failures == []  # handled, not merely swallowed
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert all_storable(studio)


def all_storable(studio) -> bool:
    """What Studio's validation checks: no NUL, valid UTF-8, no NaN, ids and names sized."""
    for request in studio.requests:
        for event in request.events:
            line = json.dumps(event, ensure_ascii=False, allow_nan=False)
            assert "\\u0000" not in line
            line.encode("utf-8")
            assert 0 < len(event["event_id"]) <= 64 and 0 < len(event["run_id"]) <= 128
            for key in ("tool_name", "tool"):
                if key in event["data"]:
                    assert 0 < len(event["data"][key]) <= 200
    return True


def test_hooks_called_without_arguments_do_not_raise(studio):
    exporter = StudioExporter()
    for hook in (
        "on_run_start",
        "on_tool_start",
        "on_tool_end",
        "on_tool_error",
        "on_llm_new_token",
        "on_agent_action",
        "on_run_end",
        "on_error",
    ):
        getattr(exporter, hook)()

    assert charm_studio.flush(timeout=5)
    assert all_storable(studio)


def test_a_huge_output_is_cut_to_fit_in_one_event(studio):
    exporter = StudioExporter()
    exporter.on_run_start(run_id="local", inputs={"pages": ["é" * 200_000] * 20})
    exporter.on_tool_start(tool_name="scrape", input_str="x")
    exporter.on_tool_end(tool_name="scrape", output="page " * 1_000_000)

    assert charm_studio.flush(timeout=10)
    for request in studio.requests:
        for event in request.events:
            assert len(json.dumps(event, ensure_ascii=False).encode()) < 1024 * 1024
    start = studio.events[0]
    assert len(start["data"]["inputs"]["pages"]) == 20
    assert "cut by charm-studio-exporter" in start["data"]["inputs"]["pages"][0]
    output = studio.events[-1]["data"]["output"]
    assert output.startswith("page page") and "more characters cut" in output


def test_pydantic_and_dataclass_values_are_sent_as_their_fields():
    from dataclasses import dataclass

    from langchain_core.messages import HumanMessage

    @dataclass
    class Invoice:
        number: str
        amount: float

    sent = payload.jsonable({"invoice": Invoice("INV-7", 12.5), "message": HumanMessage("hi")})

    assert sent["invoice"] == {"number": "INV-7", "amount": 12.5}
    assert sent["message"]["content"] == "hi" and sent["message"]["type"] == "human"


NO_CHARM_SCRIPT = """
import sys
sys.modules["charm"] = None  # as if the Charm SDK were not installed
import charm_studio
exporter = charm_studio.StudioExporter()
assert type(exporter).__mro__[1] is object
exporter.on_run_start(run_id="local", inputs={"input": "by hand"})
exporter.on_llm_new_token(token="hi")
exporter.on_run_end(run_id="local", outputs={"status": "success", "output": "hi"})
print("ok")
"""


def test_the_exporter_works_without_the_charm_sdk_installed(studio):
    env = {**os.environ, "PYTHONPATH": SDK_DIR}
    result = subprocess.run(
        [sys.executable, "-c", NO_CHARM_SCRIPT], env=env, capture_output=True, timeout=60
    )

    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"ok\n"
    assert [e["type"] for e in studio.events] == ["run_start", "llm_new_token", "run_end"]


def test_with_the_charm_sdk_installed_it_is_a_charm_telemetry_exporter():
    from charm.core.telemetry import BaseTelemetryExporter

    assert isinstance(StudioExporter(), BaseTelemetryExporter)


def test_the_charm_sdk_finds_it_under_the_name_studio(studio):
    from charm.core.telemetry import TelemetryManager

    manager = TelemetryManager(enabled_exporters=["studio"])
    names = [type(e).__name__ for e in manager.exporters]
    assert names == ["CharmEmitterExporter", "StudioExporter"]
    manager.dispatch("on_run_start", run_id="local", inputs={"input": "x"})
    manager.dispatch("on_run_end", run_id="local", outputs={"status": "success", "output": "x"})

    assert [e["type"] for e in studio.events] == ["run_start", "run_end"]
