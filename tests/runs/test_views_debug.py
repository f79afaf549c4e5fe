"""The debug checklist, compare and ingest health pages, on real PostgreSQL."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from runs.models import IngestBatch
from runs.selectors.health import group_rejections, rejection_reason
from studio.tenancy import CAPABILITIES
from tests.conftest import apply_now, ev, login

STRIPE_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/app/agent/tools.py", line 42, in charge\n'
    '    key = os.environ["STRIPE_API_KEY"]\n'
    "KeyError: 'STRIPE_API_KEY'"
)
INPUTS = {"customer": "globex", "period": "2026-11"}
CONFIG = {"required_env": ["STRIPE_API_KEY", "OPENAI_API_KEY"], "oauth": ["quickbooks"]}
CLOUD_RUNTIME = {
    "python": "3.12.7",
    "sdk_version": "0.15.0",
    "image": "ghcr.io/charm-sdk/runner:0.15.0-py3.12",
    "region": "us-east-1",
}
LOCAL_RUNTIME = {"python": "3.11.9", "sdk_version": "0.15.0", "os": "macOS-14.6-arm64"}


def run_events(
    run_id: str,
    *,
    environment: str,
    runtime: dict,
    at: float = 0,
    fail: bool = False,
    inputs: dict = INPUTS,
    log_message: str = "charging globex",
    error_message: str = "'STRIPE_API_KEY'",
) -> list[dict]:
    """A run of invoice-bot: an LLM call, an action, a search and a charge that fails in
    the cloud (KeyError: 'STRIPE_API_KEY') and works locally."""
    events = [
        ev("run_start", run_id, at=at, seq=0, inputs=inputs, environment=environment,
           runtime=runtime, config=CONFIG),
        ev("status", run_id, at=at + 0.1, seq=1, status="running"),
        ev("log", run_id, at=at + 0.2, seq=2, message="starting invoice-bot", level="info",
           stream="stdout", logger="charm.runtime"),
        ev("usage", run_id, at=at + 1, seq=3, model="gpt-4o", input_tokens=900, output_tokens=80,
           call_id="c1"),
        ev("agent_action", run_id, at=at + 1.5, seq=4, tool="search", tool_input={"q": "overdue"}),
        ev("tool_start", run_id, at=at + 1.6, seq=5, tool_name="search", input_str="overdue",
           span_id="s1"),
        ev("tool_end", run_id, at=at + 2, seq=6, tool_name="search", output="3 invoices",
           span_id="s1"),
        ev("log", run_id, at=at + 2.1, seq=7, message="stripe key not found in env",
           level="warning", stream="stderr", logger="charm.runtime.env"),
        ev("agent_action", run_id, at=at + 2.5, seq=8, tool="charge", tool_input={"amount": 10}),
        ev("tool_start", run_id, at=at + 2.6, seq=9, tool_name="charge", input_str="10",
           span_id="s2"),
        ev("log", run_id, at=at + 2.7, seq=10, message=log_message, level="info",
           stream="stdout", logger="invoice_bot"),
    ]  # fmt: skip
    if fail:
        error = {"type": "KeyError", "message": error_message, "traceback": STRIPE_TRACEBACK}
        events += [
            ev("tool_error", run_id, at=at + 2.8, seq=11, tool_name="charge", span_id="s2",
               error={"type": "KeyError", "message": error_message}),
            ev("log", run_id, at=at + 2.85, seq=12, message="run failed: KeyError",
               level="error", stream="stderr", logger="charm.runtime"),
            ev("error", run_id, at=at + 2.9, seq=13, error=error),
            ev("log", run_id, at=at + 3, seq=14, message="process exited with 1", level="info",
               stream="stderr", logger="charm.runner"),
        ]  # fmt: skip
    else:
        events += [
            ev("tool_end", run_id, at=at + 2.8, seq=11, tool_name="charge", span_id="s2",
               output="ch_1"),
            ev("run_end", run_id, at=at + 3, seq=12, outputs={"charged": 1}),
        ]  # fmt: skip
    return events


@pytest.fixture
def scenario(project):
    """A cloud run failing on a missing STRIPE_API_KEY, and the same input run locally,
    where it succeeded on another Python."""
    apply_now(
        project,
        run_events("run_local", environment="local", runtime=LOCAL_RUNTIME, at=0)
        + run_events("run_cloud", environment="cloud", runtime=CLOUD_RUNTIME, at=600, fail=True),
    )
    return project


def rows(content: str) -> dict[str, str]:
    """The checklist rows: check key → state."""
    return dict(re.findall(r'data-check="(\w+)" data-state="(\w+)"', content))


# ── Debug checklist ──────────────────────────────────────────────────────────


def test_checklist_of_a_cloud_run_failing_on_a_missing_key(scenario, owner_client):
    response = owner_client.get("/runs/run_cloud/checklist/")

    assert response.status_code == 200
    content = response.content.decode()
    assert rows(content) == {
        "local": "pass",
        "validation": "skip",
        "logs": "fail",
        "env": "fail",
        "runtime": "fail",
    }
    assert "It succeeded locally with the same input (<code>run_local</code>)" in content
    assert (
        "Where they diverge: at step 5, local called <code>charge</code> → ok; cloud called "
        "<code>charge</code> → error KeyError."
    ) in content
    assert "/runs/compare/?a=run_local&amp;b=run_cloud" in content
    assert (
        "<code>STRIPE_API_KEY</code> is declared in config.required_env and the error says it "
        "is missing — set it in the cloud environment"
    ) in content
    assert "python 3.12.7 here vs 3.11.9 locally." in content
    assert "<code>ghcr.io/charm-sdk/runner:0.15.0-py3.12</code>" in content
    # The logs: the first error line before the failure, and a link to it in the run.
    assert "Line 4 is the first error line before the failure" in content
    assert "?tab=logs&amp;page=1#L4" in content
    assert "<!doctype html>" in content  # opened directly: a page of its own


def test_checklist_for_htmx_is_the_partial_alone(scenario, owner_client):
    response = owner_client.get("/runs/run_cloud/checklist/", headers={"HX-Request": "true"})

    content = response.content.decode()
    assert "<!doctype html>" not in content
    assert content.lstrip().startswith('<section class="card dbg"')
    assert len(rows(content)) == 5
    assert "HX-Request" in response["Vary"]


def test_checklist_of_a_succeeded_run_says_it_applies_to_failed_runs(scenario, owner_client):
    response = owner_client.get("/runs/run_local/checklist/")

    content = response.content.decode()
    assert "The debug checklist applies to failed runs" in content
    assert rows(content) == {}


def test_a_failed_run_never_run_locally_says_so(project, owner_client):
    apply_now(
        project,
        run_events("run_new", environment="cloud", runtime=CLOUD_RUNTIME, fail=True,
                   inputs={"customer": "initech"}),
    )  # fmt: skip

    content = owner_client.get("/runs/run_new/checklist/").content.decode()

    assert rows(content)["local"] == "fail"
    assert "Never run locally with this input." in content
    assert "<code>charm run --local</code>" in content
    assert rows(content)["runtime"] == "skip"  # no local run, no succeeded cloud run


def test_validation_failure_is_shown_with_its_message(project, owner_client):
    apply_now(
        project,
        [
            ev("run_start", "run_v", at=0, inputs={}, environment="cloud", config={}),
            ev("status", "run_v", at=1, status="validating"),
            ev("status", "run_v", at=2, status="validation_failed",
               message="charm.yaml: exporter 'otel' not found"),
        ],
    )  # fmt: skip

    content = owner_client.get("/runs/run_v/checklist/").content.decode()

    assert rows(content)["validation"] == "fail"
    assert "Validation failed: charm.yaml: exporter &#x27;otel&#x27; not found" in content


def test_checklist_reads_a_bounded_number_of_queries_however_long_the_run(
    project, owner_client, django_assert_max_num_queries
):
    long_run = run_events("run_cloud", environment="cloud", runtime=CLOUD_RUNTIME, at=600,
                          fail=True)  # fmt: skip
    for i in range(60):
        long_run += [
            ev("agent_action", "run_cloud", at=605 + i, tool=f"t{i}"),
            ev("tool_start", "run_cloud", at=605.1 + i, tool_name=f"t{i}", span_id=f"x{i}"),
            ev("tool_end", "run_cloud", at=605.2 + i, tool_name=f"t{i}", span_id=f"x{i}"),
            ev("log", "run_cloud", at=605.3 + i, message=f"line {i}", level="info"),
        ]
    local = run_events("run_local", environment="local", runtime=LOCAL_RUNTIME)
    extra_locals = [
        event
        for n in range(8)
        for event in run_events(
            f"run_l{n}",
            environment="local",
            runtime=LOCAL_RUNTIME,
            at=100 + n * 10,
            fail=n % 2 == 0,
        )
    ]
    apply_now(project, long_run + local + extra_locals)
    owner_client.get("/runs/run_cloud/checklist/")  # warm the session

    # Session, user, membership and project (4), then the checklist's own 7 reads.
    with django_assert_max_num_queries(12):
        response = owner_client.get("/runs/run_cloud/checklist/")
    assert len(rows(response.content.decode())) == 5


def test_hostile_log_lines_and_error_messages_are_escaped(project, owner_client):
    hostile = "<script>alert('x')</script>"
    apply_now(
        project,
        run_events("run_x", environment="cloud", runtime={"python": "<b>3.12</b>"}, fail=True,
                   log_message=hostile, error_message=f"'{hostile}' <img src=x onerror=alert(1)>")
        + run_events("run_y", environment="local", runtime={"python": "<i>3.11</i>"}),
    )  # fmt: skip

    for url in ("/runs/run_x/checklist/", "/runs/compare/?a=run_y&b=run_x"):
        content = owner_client.get(url).content.decode()
        assert "<script>alert" not in content
        assert "<img src=x" not in content
        assert "<b>3.12</b>" not in content
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in content


def test_checklist_of_another_organizations_run_is_not_found(scenario, outsider):
    assert login(outsider).get("/runs/run_cloud/checklist/").status_code == 404


def test_checklist_of_an_unknown_run_is_not_found(owner_client):
    assert owner_client.get("/runs/nope/checklist/").status_code == 404


# ── Compare ──────────────────────────────────────────────────────────────────


def test_compare_lines_up_the_timelines_and_marks_the_first_divergence(scenario, owner_client):
    response = owner_client.get("/runs/compare/?a=run_local&b=run_cloud")

    content = response.content.decode()
    assert response.status_code == 200
    assert "At step 5, local called <code>charge</code> → ok; cloud called" in content
    assert 'id="step-5" class="is-diverge"' in content
    assert "Identical inputs (same input fingerprint)." in content
    # Runtime: python differs, one-sided keys are shown apart from differences.
    assert re.search(r'dbg-diff--changed">\s*<th scope="row" class="mono">python', content)
    assert re.search(r'dbg-diff--only_b">\s*<th scope="row" class="mono">image', content)


def test_compare_links_to_both_runs_and_to_the_failed_runs_checklist(scenario, owner_client):
    content = owner_client.get("/runs/compare/?a=run_local&b=run_cloud").content.decode()

    assert '<a href="/runs/run_local/">Open run</a>' in content
    assert '<a href="/runs/run_cloud/">Open run</a>' in content
    assert '<a href="/runs/run_cloud/checklist/">Debug checklist</a>' in content
    assert "/runs/run_local/checklist/" not in content  # it succeeded: nothing to check


def test_compare_without_runs_suggests_ticking_two_in_the_runs_list(owner_client):
    content = owner_client.get("/runs/compare/").content.decode()

    assert 'Or tick two runs in the <a href="/runs/">runs list</a>.' in content


def test_compare_without_b_offers_runs_with_the_same_input_first(scenario, owner_client):
    apply_now(
        scenario,
        run_events("run_other", environment="cloud", runtime=CLOUD_RUNTIME, at=900,
                   inputs={"customer": "initech"}),
    )  # fmt: skip

    content = owner_client.get("/runs/compare/?a=run_cloud").content.decode()

    same_input, same_agent = content.split("Recent runs of")
    assert "/runs/compare/?a=run_cloud&amp;b=run_local" in same_input
    assert "run_other" not in same_input
    assert "/runs/compare/?a=run_cloud&amp;b=run_other" in same_agent


def test_compare_with_an_unknown_or_foreign_run_is_not_found(scenario, outsider, owner_client):
    assert owner_client.get("/runs/compare/?a=run_cloud&b=nope").status_code == 404
    assert login(outsider).get("/runs/compare/?a=run_local&b=run_cloud").status_code == 404
    assert login(outsider).get("/runs/compare/?a=run_cloud").status_code == 404


def test_compare_without_runs_asks_for_them(owner_client):
    response = owner_client.get("/runs/compare/")

    assert response.status_code == 200
    assert 'name="a"' in response.content.decode()


def test_compare_reads_a_bounded_number_of_queries(
    scenario, owner_client, django_assert_max_num_queries
):
    owner_client.get("/runs/compare/?a=run_local&b=run_cloud")
    with django_assert_max_num_queries(10):
        owner_client.get("/runs/compare/?a=run_local&b=run_cloud")
    with django_assert_max_num_queries(8):
        owner_client.get("/runs/compare/?a=run_cloud")


# ── Ingest health ────────────────────────────────────────────────────────────


def batch(project, *, status="applied", hours_ago=1.0, events=10, rejections=(), duplicates=0,
          last_error="", attempts=1) -> IngestBatch:  # fmt: skip
    created = IngestBatch.objects.create(
        project=project,
        status=status,
        event_count=events,
        rejected_count=len(rejections),
        rejections=[{"index": i, "error": error} for i, error in enumerate(rejections)],
        duplicate_count=duplicates,
        last_error=last_error,
        attempts=attempts,
        payload="[]",
    )
    received = timezone.now() - timedelta(hours=hours_ago)
    IngestBatch.objects.filter(pk=created.pk).update(received_at=received)
    created.received_at = received
    return created


@pytest.fixture
def batches(project, other_project):
    batch(project, events=120, duplicates=4)
    batch(
        project,
        events=30,
        rejections=[
            "type: unknown event type 'tool_call'; valid types are: run_start, run_end",
            "type: unknown event type 'llm_start'; valid types are: run_start, run_end",
            "data.config.required_env[2]: expected a name (a string of 1–200 characters), got "
            "number 5",
        ],
    )
    batch(project, status="pending", hours_ago=0.5, events=7)
    failed = batch(
        project, status="failed", hours_ago=3, events=55, attempts=5,
        last_error="OperationalError: <deadlock detected> on runs_run",
    )  # fmt: skip
    foreign = batch(other_project, status="failed", events=9, last_error="other org's error")
    return failed, foreign


def test_health_shows_pending_failed_accepted_rejected_and_duplicates(batches, owner_client):
    response = owner_client.get("/runs/health/")

    content = response.content.decode()
    assert response.status_code == 200
    assert "1 batch failed to apply." in content
    assert "OperationalError: &lt;deadlock detected&gt; on runs_run" in content
    assert "other org&#x27;s error" not in content
    accepted = re.search(
        r"Events accepted · 24 h</div>\s*<div class=\"stat__value\">([\d,]+)", content
    )
    assert accepted.group(1) == "212"
    rejected = re.search(
        r"Events rejected · 24 h</div>\s*<div class=\"stat__value\">(\d+)", content
    )
    assert rejected.group(1) == "3"
    duplicates = re.search(r"Duplicates · 24 h</div>\s*<div class=\"stat__value\">(\d+)", content)
    assert duplicates.group(1) == "4"
    # The two unknown types group under one reason, counted 2, with one example.
    assert re.search(
        r"type: unknown event type &#x27;…&#x27;; valid types are: run_start, run_end</span>.*?"
        r'<td class="num">2</td>',
        content,
        re.S,
    )
    assert 'action="/runs/health/batches/' in content  # owners may retry


def test_health_with_nothing_received_teaches_how_to_send_events(owner_client):
    content = owner_client.get("/runs/health/").content.decode()

    assert "Nothing received yet" in content
    assert "/api/v1/ingest" in content


def test_a_developer_retries_a_failed_batch(
    batches, teammate, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr("runs.ingest.inbox.enqueue", sent.append)
    failed, _ = batches

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = login(teammate).post(f"/runs/health/batches/{failed.pk}/retry/")
        assert sent == []  # not before the batch is pending for everyone to see
    assert len(callbacks) == 1

    assert response.status_code == 302
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("pending", 0)
    assert sent == [failed.pk]


def test_owners_and_developers_may_retry_batches():
    assert CAPABILITIES["retry_batches"] == {"owner", "developer"}


@pytest.mark.parametrize("role", ["support", "finance", "viewer"])
def test_other_roles_cannot_retry_and_see_no_retry_button(batches, make_member, monkeypatch, role):
    monkeypatch.setattr("runs.ingest.inbox.enqueue", lambda batch_id: None)
    member = login(make_member(role))
    failed, _ = batches

    content = member.get("/runs/health/").content.decode()
    assert 'action="/runs/health/batches/' not in content
    assert "An owner or developer can retry it." in content
    assert member.post(f"/runs/health/batches/{failed.pk}/retry/").status_code == 403
    failed.refresh_from_db()
    assert failed.status == "failed"


def test_retrying_follows_the_retry_batches_capability_not_manage_keys(
    batches, make_member, monkeypatch
):
    monkeypatch.setattr("runs.ingest.inbox.enqueue", lambda batch_id: None)
    monkeypatch.setitem(CAPABILITIES, "retry_batches", frozenset({"support"}))
    monkeypatch.setitem(CAPABILITIES, "manage_keys", frozenset({"viewer"}))
    failed, _ = batches

    key_manager = login(make_member("viewer"))
    assert 'action="/runs/health/batches/' not in key_manager.get("/runs/health/").content.decode()
    assert key_manager.post(f"/runs/health/batches/{failed.pk}/retry/").status_code == 403

    retrier = login(make_member("support"))
    assert 'action="/runs/health/batches/' in retrier.get("/runs/health/").content.decode()
    assert retrier.post(f"/runs/health/batches/{failed.pk}/retry/").status_code == 302
    failed.refresh_from_db()
    assert failed.status == "pending"


def test_retrying_another_organizations_batch_is_not_found(batches, owner_client, monkeypatch):
    monkeypatch.setattr("runs.ingest.inbox.enqueue", lambda batch_id: None)
    _, foreign = batches

    assert owner_client.post(f"/runs/health/batches/{foreign.pk}/retry/").status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == "failed"


def test_retry_needs_a_post(batches, owner_client):
    failed, _ = batches

    assert owner_client.get(f"/runs/health/batches/{failed.pk}/retry/").status_code == 405


def test_health_reads_a_bounded_number_of_queries(
    batches, owner_client, django_assert_max_num_queries
):
    owner_client.get("/runs/health/")
    with django_assert_max_num_queries(9):
        owner_client.get("/runs/health/")


def test_rejection_reasons_drop_indexes_quoted_values_and_numbers():
    assert rejection_reason("data.items[3]: expected a string, got number 5") == (
        "data.items[…]: expected a string, got number N"
    )
    assert rejection_reason("event is 1,234,567 bytes; the limit is 1,048,576") == (
        "event is N bytes; the limit is N"
    )
    assert rejection_reason('ts: expected an RFC 3339 timestamp like "x", got string "2026"') == (
        'ts: expected an RFC 3339 timestamp like "…", got string "…"'
    )


def test_rejections_group_by_reason_most_frequent_first_with_one_example():
    grouped = group_rejections(
        [
            "v: unsupported protocol version 2; this server speaks 1",
            "type: unknown event type 'a'",
            "type: unknown event type 'b'",
        ]
    )

    assert [(g.reason, g.count, g.example) for g in grouped] == [
        ("type: unknown event type '…'", 2, "type: unknown event type 'a'"),
        ("v: unsupported protocol version N; this server speaks N", 1,
         "v: unsupported protocol version 2; this server speaks 1"),
    ]  # fmt: skip
