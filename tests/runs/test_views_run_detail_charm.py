"""The run page shows what Charm's own streams add: exit codes, suspension, artifacts,
state, billable tool uses and a streamed answer as the output. User content is escaped."""

from runs.models import Run
from tests.conftest import apply_now, ev

SCRIPT = "<script>alert(1)</script>"


def page(client, run_id: str) -> str:
    response = client.get(f"/runs/{run_id}/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_run_killed_with_137_shows_its_exit_code_as_likely_out_of_memory(owner_client, project):
    apply_now(
        project,
        [
            ev("run_start", "oom", at=0, seq=0, inputs={"q": 1}),
            ev("process_exit", "oom", at=5, seq=1, exit_code=137, duration_ms=5000),
        ],
    )

    html = page(owner_client, "oom")

    assert Run.objects.get(run_id="oom").status == "failed"
    assert "Exit code" in html and "killed: likely out of memory" in html


def test_a_suspended_run_shows_its_thread_and_next_step_escaped(owner_client, project):
    apply_now(
        project,
        [
            ev("run_start", "wait", at=0, seq=0, inputs={}),
            ev("status", "wait", at=1, seq=1, status="suspended", thread_id="t-42",
               next_step=f"approve {SCRIPT}"),
        ],
    )  # fmt: skip

    html = page(owner_client, "wait")

    assert 'data-status="suspended"' in html
    assert "t-42" in html and "Waiting for a human" in html
    assert SCRIPT not in html and "&lt;script&gt;" in html


def test_artifacts_link_only_to_web_addresses_and_state_is_shown(owner_client, project):
    apply_now(
        project,
        [
            ev("run_start", "art", at=0, seq=0, inputs={}),
            ev("artifact", "art", at=1, seq=1, name="report.pdf",
               url="https://files.example.com/r.pdf", mime="application/pdf"),
            ev("artifact", "art", at=2, seq=2, name=SCRIPT, url="javascript:alert(1)"),
            ev("state_update", "art", at=3, seq=3, state={"note": SCRIPT, "seen": 3}),
            ev("tool_usage", "art", at=3.5, seq=4, tool="get_weather", count=2),
            ev("run_end", "art", at=4, seq=5, outputs={"ok": True}, format="json"),
        ],
    )  # fmt: skip

    html = page(owner_client, "art")

    assert 'href="https://files.example.com/r.pdf"' in html
    assert 'href="javascript:' not in html
    assert "State (latest)" in html and "&quot;seen&quot;: 3" in html
    assert "get_weather</span> ×2" in html
    assert SCRIPT not in html


def test_a_streamed_answer_without_a_final_is_shown_as_the_output(owner_client, project):
    tokens = [
        ev("llm_new_token", "stream", at=1 + i / 10, seq=1 + i, token=t, call_id="c1")
        for i, t in enumerate(["It ", "is ", "sunny."])
    ]
    apply_now(project, [ev("run_start", "stream", at=0, seq=0, inputs={}), *tokens])

    html = page(owner_client, "stream")

    assert "Output (streamed answer)" in html and "It is sunny." in html


def test_the_runs_list_filters_suspended_runs(owner_client, project):
    apply_now(
        project,
        [
            ev("run_start", "wait", at=0, seq=0, inputs={}),
            ev("status", "wait", at=1, seq=1, status="suspended"),
            ev("run_start", "done", at=0, seq=0, inputs={}),
            ev("run_end", "done", at=1, seq=1, outputs=None),
        ],
    )

    response = owner_client.get("/runs/?status=suspended")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/runs/wait/" in html and "/runs/done/" not in html
    assert "chip--suspended" in html


def test_the_checklist_says_a_run_killed_with_137_likely_ran_out_of_memory(owner_client, project):
    apply_now(
        project,
        [
            ev("run_start", "oom", at=0, seq=0, inputs={"q": 1}),
            ev("error", "oom", at=4, seq=1,
               error={"type": "OutOfMemory", "message": "Execution Failed (Code 137)."}),
            ev("process_exit", "oom", at=5, seq=2, exit_code=137),
        ],
    )  # fmt: skip

    response = owner_client.get("/runs/oom/checklist/")

    assert response.status_code == 200
    assert "killed with exit code 137: likely out of memory" in response.content.decode()


def test_runs_of_one_thread_are_linked_and_the_api_filters_by_thread(owner_client, project, api):
    apply_now(
        project,
        [
            ev("run_start", "ask", at=0, seq=0, inputs={}),
            ev("status", "ask", at=1, seq=1, status="suspended", thread_id="t-9"),
            ev("run_start", "resume", at=60, seq=0, inputs={}),
            ev("status", "resume", at=61, seq=1, status="suspended", thread_id="t-9"),
            ev("run_start", "other", at=0, seq=0, inputs={}),
        ],
    )

    html = page(owner_client, "ask")
    listed = api.get("/api/v1/runs?thread=t-9").json()["runs"]

    assert 'href="/runs/resume/"' in html
    assert sorted(r["run_id"] for r in listed) == ["ask", "resume"]
