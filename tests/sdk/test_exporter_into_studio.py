"""The exporter plugin inside the real `charm run`, sending to a real Studio: uvicorn,
PostgreSQL and a Celery worker. What the agent did is what the run page reads."""

import os
import sys
from pathlib import Path
from subprocess import CompletedProcess, run

import pytest

from runs.models import LlmCall, Run, ToolSpan
from tests.conftest import wait_for
from tests.runs.test_browser_run_detail import asgi_server  # noqa: F401 (a fixture)
from tests.sdk.test_exporter_charm_run import (
    ANSWER,
    CRASHING_AGENT,
    INPUT,
    LANGCHAIN_AGENT,
    home,  # noqa: F401 (a fixture)
    write_agent,
)

pytestmark = pytest.mark.worker


CHARM = Path(sys.executable).with_name("charm")


@pytest.fixture
def charm_into_studio(asgi_server, ingest_key, home):  # noqa: F811
    """`charm run` of an agent whose charm.yaml enables the plugin, aimed at Studio."""

    def charm_run(agent: Path) -> CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHARM_STUDIO_")}
        env.update(HOME=str(home), CHARM_STUDIO_URL=asgi_server, CHARM_STUDIO_API_KEY=ingest_key)
        command = [str(CHARM), "run", str(agent), "--json", INPUT]
        return run(command, cwd=agent, env=env, capture_output=True, timeout=120)

    return charm_run


def finished_run(project, status: str) -> Run:
    return wait_for(lambda: Run.objects.filter(project=project, status=status).first(), timeout=60)


def test_a_langchain_run_lands_in_studio_with_its_tool_and_streamed_answer(
    tmp_path, charm_into_studio, worker, project
):
    worker()
    agent = write_agent(tmp_path / "bot", LANGCHAIN_AGENT, adapter="langchain", telemetry=True)

    result = charm_into_studio(agent)

    assert result.returncode == 0, result.stderr.decode()
    run = finished_run(project, "succeeded")
    assert (run.agent_name, run.agent_version) == ("Invoice Bot", "1.4.0")
    assert run.run_id != "local"
    assert run.inputs == {"input": "INV-7"}
    [span] = ToolSpan.objects.filter(run=run)
    assert (span.tool_name, span.status) == ("lookup_invoice", "ok")
    [call] = LlmCall.objects.filter(run=run)
    assert call.text == ANSWER


def test_a_crashing_agent_lands_in_studio_as_failed_with_its_exception(
    tmp_path, charm_into_studio, worker, project
):
    worker()
    agent = write_agent(tmp_path / "bot", CRASHING_AGENT, adapter="custom", telemetry=True)

    result = charm_into_studio(agent)

    assert result.returncode == 0  # Charm exits 0 after a crash; Studio says what happened
    run = finished_run(project, "failed")
    assert "division by zero" in run.error_message
    assert run.error_group_id is not None
