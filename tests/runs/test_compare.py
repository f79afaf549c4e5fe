"""Two timelines aligned step by step, and where they first diverge (pure)."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from runs.compare import (
    MAX_STEPS,
    Step,
    align,
    code,
    code_parts,
    divergence_text,
    json_differences,
    runtime_differences,
    timeline_steps,
)

T0 = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def tool(name: str, outcome: str = "ok", error_type: str = "") -> Step:
    return Step("tool", name, outcome, error_type)


def llm(model: str) -> Step:
    return Step("llm", model)


def action(name: str) -> Step:
    return Step("action", name)


def crash(error_type: str) -> Step:
    return Step("error", error_type)


# ── Alignment ────────────────────────────────────────────────────────────────


def test_identical_timelines_have_no_divergence():
    steps = [llm("gpt-4o"), action("search"), tool("search")]

    alignment = align(steps, list(steps))

    assert alignment.divergence is None
    assert alignment.matching == 3
    assert divergence_text(alignment, label_a="local", label_b="cloud") == (
        "The timelines match step for step (3 steps)."
    )


def test_first_divergence_names_the_step_and_what_each_run_did():
    local = [llm("gpt-4o"), action("search"), tool("search"), llm("gpt-4o")]
    cloud = [
        llm("gpt-4o"),
        action("search"),
        tool("search", "error", "TimeoutError"),
        crash("TimeoutError"),
    ]

    alignment = align(local, cloud)

    assert alignment.divergence.number == 3
    assert divergence_text(alignment, label_a="local", label_b="cloud") == (
        "At step 3, local called `search` → ok; cloud called `search` → error TimeoutError."
    )


def test_a_step_only_one_run_has_is_a_gap_and_the_rest_still_lines_up():
    a = [llm("m"), tool("search"), tool("fetch"), tool("send")]
    b = [llm("m"), tool("search"), tool("send")]

    alignment = align(a, b)

    assert [(r.a and r.a.name, r.b and r.b.name) for r in alignment.rows] == [
        ("m", "m"),
        ("search", "search"),
        ("fetch", None),
        ("send", "send"),
    ]
    assert alignment.divergence.number == 3
    assert "B had no matching step" in divergence_text(alignment, label_a="A", label_b="B")


def test_a_run_that_stopped_early_had_no_more_steps():
    alignment = align([llm("m"), tool("search"), tool("send")], [llm("m")])

    assert divergence_text(alignment, label_a="local", label_b="cloud") == (
        "At step 2, local called `search` → ok; cloud had no more steps."
    )


def test_a_run_without_any_step_says_so():
    alignment = align([llm("gpt-4o-mini")], [])

    assert divergence_text(alignment, label_a="local", label_b="cloud") == (
        "At step 1, local called the model `gpt-4o-mini`; cloud recorded no step at all."
    )


def test_the_common_beginning_is_never_realigned_by_a_later_longer_match():
    # A diff on the whole lists would match [A, B, C] at the end of `a` and call the
    # first four steps extra; the shared beginning must stay matched.
    a = [action("A"), action("B"), action("A"), action("B"), action("A"), action("B"), action("C")]
    b = [action("A"), action("B"), action("C")]

    alignment = align(a, b)

    assert [row.same for row in alignment.rows[:2]] == [True, True]
    assert alignment.divergence.number == 3


def test_tool_errors_of_different_types_differ():
    alignment = align([tool("pay", "error", "KeyError")], [tool("pay", "error", "TimeoutError")])

    assert alignment.divergence.number == 1


def test_very_long_runs_are_compared_on_their_first_steps():
    steps = [tool(f"t{i}") for i in range(MAX_STEPS + 50)]

    alignment = align(steps, steps)

    assert alignment.truncated
    assert len(alignment.rows) == MAX_STEPS


# ── Steps from a run's rows ──────────────────────────────────────────────────


def span(name, status, start, end=None, error=None):
    return SimpleNamespace(
        tool_name=name, status=status, started_at=start, ended_at=end, error=error
    )


def call(model, first_token=None, usage=None):
    return SimpleNamespace(model=model, first_token_at=first_token, usage_at=usage)


def test_steps_are_tool_spans_llm_calls_actions_and_crashes_in_time_order():
    steps = timeline_steps(
        spans=[
            span("search", "ok", at(2), at(3)),
            span("charge", "error", at(5), at(6), {"type": "KeyError", "message": "'KEY'\nmore"}),
        ],
        calls=[call("gpt-4o", usage=at(1)), call("", first_token=at(4))],
        events=[
            ("e1", at(1.9), 3, "agent_action", {"tool": "search", "tool_input": {}}),
            ("e2", at(7), 9, "error", {"error": {"type": "KeyError", "message": "'KEY'"}}),
            ("e3", at(8), 10, "status", {"status": "failed"}),
        ],
        run_ended=True,
    )

    assert [(s.kind, s.name, s.outcome, s.error_type) for s in steps] == [
        ("llm", "gpt-4o", "", ""),
        ("action", "search", "", ""),
        ("tool", "search", "ok", ""),
        ("llm", "", "", ""),
        ("tool", "charge", "error", "KeyError"),
        ("error", "KeyError", "", ""),
    ]
    assert steps[4].detail == "'KEY'"


def test_an_open_span_of_a_finished_run_never_finished():
    [running] = timeline_steps(
        spans=[span("search", "open", at(1))], calls=[], events=[], run_ended=False
    )
    [abandoned] = timeline_steps(
        spans=[span("search", "open", at(1))], calls=[], events=[], run_ended=True
    )

    assert running.describe() == "called `search` → still running"
    assert abandoned.describe() == "called `search` → never finished"


def test_an_action_comes_before_the_tool_it_calls_at_the_same_instant():
    steps = timeline_steps(
        spans=[span("search", "ok", at(1), at(2))],
        calls=[],
        events=[("e1", at(1), None, "agent_action", {"tool": "search"})],
        run_ended=True,
    )

    assert [s.kind for s in steps] == ["action", "tool"]


# ── Values side by side ──────────────────────────────────────────────────────


def test_json_differences_line_up_paths_and_mark_what_changed():
    rows, truncated = json_differences(
        {"customer": "globex", "items": [{"sku": "A"}], "dry_run": False},
        {"customer": "initech", "items": [{"sku": "A"}, {"sku": "B"}]},
    )

    states = {row.path: row.state for row in rows}
    assert states == {
        "customer": "changed",
        "items[0].sku": "same",
        "dry_run": "only_a",
        "items[1].sku": "only_b",
    }
    assert not truncated


def test_a_run_without_outputs_shows_every_value_of_the_other_as_absent_there():
    rows, _ = json_differences({"total": 3}, None)

    assert [(r.path, r.a, r.b) for r in rows] == [("total", "3", None)]


def test_runtime_lists_the_known_keys_first_and_one_sided_keys_are_not_changes():
    rows = runtime_differences(
        {"python": "3.12.7", "image": "runner:1", "os": "Linux", "region": "us-east-1"},
        {"python": "3.11.9", "os": "macOS", "region": None},
    )

    assert [(r.path, r.state) for r in rows] == [
        ("image", "only_a"),
        ("python", "changed"),
        ("region", "only_a"),
        ("os", "changed"),
    ]


def test_names_with_backticks_cannot_break_out_of_their_code_span():
    text = f"called {code('a`<b>`c')} → ok"

    assert code_parts(text) == [("called ", False), ("a'<b>'c", True), (" → ok", False)]
