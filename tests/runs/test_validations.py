"""`charm validate` in Studio: the real CLI's output sent to /api/v1/validations, and the
failed-run checklist's validation row showing the latest one for the run's agent."""

import json
import os
import sys
import textwrap
import time
from pathlib import Path
from subprocess import run

import pytest

from runs.validation_report import validation_read
from studio.apikeys import apikey_create
from tests.conftest import apply_now, ev

CHARM = Path(sys.executable).with_name("charm")
URL = "/api/v1/validations"


def project_dir(root: Path, name: str, entry_point: str) -> Path:
    directory = root / name
    directory.mkdir()
    (directory / "agent.py").write_text("def run(inputs):\n    return 'ok'\n")
    (directory / "charm.yaml").write_text(
        textwrap.dedent(f"""\
            version: "0.4"
            persona:
              name: invoice-bot
              description: Answers invoice questions
            interface:
              input: {{type: object}}
              output: {{type: object}}
            runtime:
              adapter:
                type: custom
                entry_point: "{entry_point}"
            """)
    )
    return directory


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, bytes]:
    """What the real `charm validate` printed for a good and a broken project."""
    root = tmp_path_factory.mktemp("validate")
    home = root / "home"
    (home / ".charm").mkdir(parents=True)
    (home / ".charm" / ".update_check.json").write_text(json.dumps({"last_check": time.time()}))
    env = {**os.environ, "HOME": str(home)}
    out = {}
    for name, entry in (("good", "agent:run"), ("broken", "missing_module:run")):
        directory = project_dir(root, name, entry)
        result = run([str(CHARM), "validate", str(directory)], env=env, capture_output=True)
        out[name] = result.stdout
    return out


def send(api, body: bytes, agent: str | None = "invoice-bot", content_type="text/plain"):
    headers = {"X-Charm-Agent": agent} if agent else {}
    return api.post(URL, data=body, content_type=content_type, headers=headers)


def test_the_real_output_reads_as_checks_with_levels(outputs):
    good, broken = (
        validation_read(outputs["good"].decode()),
        validation_read(outputs["broken"].decode()),
    )

    assert good.passed and good.errors == 0
    assert any(line["level"] == "ok" for line in good.lines)
    assert not broken.passed and broken.errors == 1
    flagged = [line["text"] for line in broken.lines if line["level"] == "error"]
    assert flagged[0].startswith("✖ Entry Point Contract Violation")
    assert "missing_module" in flagged[1]  # the explanation line takes its parent's level


def test_a_sent_report_is_kept_and_answered_with_its_lines(api, outputs):
    response = send(api, outputs["broken"])

    assert response.status_code == 201
    body = response.json()
    assert (body["agent"], body["passed"], body["errors"]) == ("invoice-bot", False, 1)


@pytest.mark.parametrize(
    ("agent", "body", "content_type", "status", "says"),
    [
        (None, b"x", "text/plain", 400, "X-Charm-Agent"),
        ("invoice-bot", b"   \n", "text/plain", 400, "empty"),
        ("invoice-bot", b"x" * (1024 * 1024 + 1), "text/plain", 413, "1,048,576"),
        ("invoice-bot", b"{}", "application/json", 415, "text/plain"),
    ],
)
def test_bad_reports_are_refused_with_what_was_wrong(api, agent, body, content_type, status, says):
    response = send(api, body, agent, content_type)

    assert response.status_code == status
    assert says in response.json()["error"]


def test_a_report_needs_an_ingest_key(client, project, outputs):
    read_only = apikey_create(project=project, scopes=["read"])[1]

    no_key = client.post(URL, data=outputs["good"], content_type="text/plain")
    wrong_scope = client.post(
        URL,
        data=outputs["good"],
        content_type="text/plain",
        headers={"Authorization": f"Bearer {read_only}", "X-Charm-Agent": "invoice-bot"},
    )

    assert (no_key.status_code, wrong_scope.status_code) == (401, 403)


def failed_run(project) -> None:
    apply_now(
        project,
        [
            ev("run_start", "run_1", at=0, seq=0, inputs={"q": 1}),
            ev("error", "run_1", at=1, seq=1, error={"type": "KeyError", "message": "'X'"}),
        ],
    )


def test_the_checklist_shows_the_failing_validation_of_the_runs_agent(
    api, owner_client, project, outputs
):
    send(api, outputs["broken"])
    failed_run(project)

    html = owner_client.get("/runs/run_1/checklist/").content.decode()

    assert "reported 1 error" in html
    assert "Entry Point Contract Violation" in html


def test_the_checklist_says_how_to_send_a_validation_when_none_was(owner_client, project):
    failed_run(project)

    html = owner_client.get("/runs/run_1/checklist/").content.decode()

    assert "/api/v1/validations" in html


def test_another_projects_report_is_never_shown(
    owner_client, project, other_project, outputs, client
):
    other_key = apikey_create(project=other_project, scopes=["ingest"])[1]
    client.post(
        URL,
        data=outputs["broken"],
        content_type="text/plain",
        headers={"Authorization": f"Bearer {other_key}", "X-Charm-Agent": "invoice-bot"},
    )
    failed_run(project)

    html = owner_client.get("/runs/run_1/checklist/").content.decode()

    assert "Entry Point Contract Violation" not in html
