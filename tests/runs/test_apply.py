"""Applying events: idempotent, order-independent, nothing double counted."""

import random
from decimal import Decimal

from django.db.models import Sum

from billing.models import RevenueDaily, RevenueEvent
from runs.models import ErrorGroup, IngestBatch, LlmCall, Run, ToolSpan, UsageHourly
from tests.conftest import apply_now, ev


def a_failed_run(run_id: str = "run_1") -> list[dict]:
    """A realistic run: start, a tool call, an LLM call streamed in 3 tokens with usage,
    a log, then a crash."""
    return [
        ev("run_start", run_id, at=0, seq=0, inputs={"invoice": 42}, environment="cloud",
           config={"required_env": ["STRIPE_API_KEY"]}),
        ev("tool_start", run_id, at=1, seq=1, tool_name="search", input_str="due", span_id="t1"),
        ev("tool_end", run_id, at=2, seq=2, tool_name="search", output=["inv-42"], span_id="t1"),
        ev("llm_new_token", run_id, at=3, seq=3, token="Hel", model="gpt-4o", call_id="c1"),
        ev("llm_new_token", run_id, at=3.1, seq=4, token="lo ", model="gpt-4o", call_id="c1"),
        ev("llm_new_token", run_id, at=3.2, seq=5, token="there", model="gpt-4o", call_id="c1"),
        ev("usage", run_id, at=3.3, seq=6, model="gpt-4o", input_tokens=1000, output_tokens=200,
           cache_read_tokens=4000, call_id="c1"),
        ev("log", run_id, at=4, seq=7, message="charging card", level="info", stream="stdout"),
        ev("error", run_id, at=5, seq=8,
           error={"type": "KeyError", "message": "'STRIPE_API_KEY'", "traceback": "Traceback"}),
    ]  # fmt: skip


def snapshot(project) -> dict:
    """Everything a user could see about the project's runs, in a comparable form."""
    runs = {
        r.run_id: (
            r.status, r.agent_name, r.environment, r.started_at, r.ended_at, r.duration_ms,
            r.event_count, r.tool_calls, r.tool_errors, r.llm_calls, r.token_count,
            r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cost, r.unpriced_calls,
            r.error_type, r.revenue, r.input_fingerprint,
        )
        for r in Run.objects.filter(project=project)
    }  # fmt: skip
    spans = sorted(
        ToolSpan.objects.filter(run__project=project).values_list(
            "run__run_id", "span_key", "status", "started_at", "ended_at"
        )
    )
    calls = sorted(
        LlmCall.objects.filter(run__project=project).values_list(
            "run__run_id", "call_id", "text", "token_count", "cost"
        )
    )
    groups = sorted(
        ErrorGroup.objects.filter(project=project).values_list(
            "fingerprint", "event_count", "run_count"
        )
    )
    usage = sorted(
        (u.hour, u.agent_name, u.model, u.environment, u.runs, u.failures, u.finished,
         u.duration_ms_sum, u.llm_calls, u.input_tokens, u.cost)
        for u in UsageHourly.objects.filter(project_id=project.id)
        if any((u.runs, u.failures, u.finished, u.llm_calls, u.input_tokens, u.cost))
    )  # fmt: skip
    return {"runs": runs, "spans": spans, "calls": calls, "groups": groups, "usage": usage}


def test_a_run_is_summarized_from_its_events(project):
    apply_now(project, a_failed_run())

    run = Run.objects.get(project=project, run_id="run_1")
    assert run.status == "failed"
    assert run.error_type == "KeyError"
    assert run.duration_ms == 5000
    assert run.tool_calls == 1
    assert run.llm_calls == 1
    assert run.token_count == 3
    assert (run.input_tokens, run.output_tokens, run.cache_read_tokens) == (1000, 200, 4000)
    # gpt-4o: 1000 × 2.50/1M + 200 × 10.00/1M + 4000 × 1.25/1M = 0.0025 + 0.002 + 0.005
    assert run.cost == Decimal("0.0095")
    call = LlmCall.objects.get(run=run)
    assert call.text == "Hello there"
    span = ToolSpan.objects.get(run=run)
    assert (span.span_key, span.status) == ("t1", "ok")
    assert run.error_group.run_count == 1


def test_resending_a_batch_changes_nothing(project):
    events = a_failed_run()
    apply_now(project, events)
    first = snapshot(project)

    result = apply_now(project, events)

    assert result.inserted == 0
    assert snapshot(project) == first


def test_a_batch_holding_one_stored_event_keeps_its_new_ones_and_counts_the_old_once(
    project, other_project
):
    events = a_failed_run()
    apply_now(project, events[:3])

    result = apply_now(project, events[2:])  # its tool_end was stored by the first batch

    assert (result.inserted, result.duplicates) == (3, 1)  # usage, log, error; tool_end
    apply_now(other_project, events)
    assert snapshot(project) == snapshot(other_project)


def test_a_new_run_whose_only_event_is_stored_already_is_not_made_and_its_batch_applies(project):
    first = ev("log", "run_a", at=1, message="hello")
    apply_now(project, [ev("run_start", "run_a", at=0), first])
    # The same event id and time under another run id: the same event, by its key.
    resent = {**first, "run_id": "run_b"}

    result = apply_now(project, [resent, ev("log", "run_a", at=2, message="more")])

    assert (result.inserted, result.duplicates) == (1, 1)
    assert sorted(Run.objects.filter(project=project).values_list("run_id", flat=True)) == ["run_a"]
    assert IngestBatch.objects.filter(project=project, status="applied").count() == 2


def test_events_split_over_batches_in_reverse_order_give_the_same_result(project, other_project):
    events = a_failed_run() + a_failed_run("run_2")
    apply_now(project, events)

    for chunk in reversed([events[i : i + 3] for i in range(0, len(events), 3)]):
        apply_now(other_project, chunk)

    assert snapshot(other_project) == snapshot(project)


def test_shuffled_resent_events_in_random_batches_give_the_same_result(project, other_project):
    events = a_failed_run() + a_failed_run("run_2") + a_failed_run("run_3")
    apply_now(project, events)
    rng = random.Random(4)
    delivered = events + rng.sample(events, 10)  # at-least-once: some come twice
    rng.shuffle(delivered)

    while delivered:
        size = rng.randint(1, 6)
        apply_now(other_project, delivered[:size])
        delivered = delivered[size:]

    assert snapshot(other_project) == snapshot(project)


def test_late_run_start_does_not_reopen_a_finished_run(project):
    start = ev("run_start", "r", at=0, inputs={"q": 1})
    apply_now(project, [ev("run_end", "r", at=10, outputs={"ok": True})])

    apply_now(project, [start])

    run = Run.objects.get(run_id="r")
    assert run.status == "succeeded"
    assert run.duration_ms == 10_000
    assert run.inputs == {"q": 1}


def test_late_running_status_does_not_regress_a_failed_run(project):
    apply_now(project, [ev("error", "r", at=5, error={"type": "E", "message": "boom"})])

    apply_now(project, [ev("status", "r", at=9, status="running")])

    assert Run.objects.get(run_id="r").status == "failed"


def test_resent_and_reordered_tokens_fold_into_one_call_in_order(project):
    tokens = [
        ev("llm_new_token", "r", at=i / 10, seq=i, token=f"t{i} ", call_id="c") for i in range(50)
    ]
    apply_now(project, tokens[25:])
    apply_now(project, tokens[:30])  # overlaps the first batch by 5 tokens

    call = LlmCall.objects.get(call_id="c")
    assert call.token_count == 50
    assert call.text == "".join(f"t{i} " for i in range(50))
    assert Run.objects.get(run_id="r").token_count == 50


def test_tool_events_without_span_ids_pair_in_order_per_tool(project):
    apply_now(project, [
        ev("tool_start", "r", at=1, tool_name="fetch", input_str="a"),
        ev("tool_start", "r", at=2, tool_name="fetch", input_str="b"),
        ev("tool_error", "r", at=4, tool_name="fetch", error={"type": "Timeout", "message": "x"}),
    ])  # fmt: skip
    apply_now(project, [ev("tool_end", "r", at=3, tool_name="fetch", output="A")])

    spans = ToolSpan.objects.filter(run__run_id="r").order_by("started_at")
    assert [(s.input_str, s.status) for s in spans] == [("a", "ok"), ("b", "error")]


def test_usage_rollups_match_the_runs_they_summarize(project):
    apply_now(project, a_failed_run("a") + a_failed_run("b"))
    apply_now(project, [ev("run_start", "c", at=0), ev("run_end", "c", at=1)])

    totals = UsageHourly.objects.filter(project_id=project.id).aggregate(
        runs=Sum("runs"), failures=Sum("failures"), cost=Sum("cost"), calls=Sum("llm_calls")
    )
    assert totals == {"runs": 3, "failures": 2, "cost": Decimal("0.019"), "calls": 2}


def test_a_late_run_start_moves_the_run_and_its_usage_to_the_named_agent(project):
    usage = ev("usage", "r", at=2, agent=None, model="gpt-4o", input_tokens=10, output_tokens=1)
    apply_now(project, [usage])
    assert UsageHourly.objects.get(project_id=project.id, model="gpt-4o").agent_name == ""

    apply_now(project, [ev("run_start", "r", at=0, agent="invoice-bot")])

    rows = UsageHourly.objects.filter(project_id=project.id).exclude(runs=0, llm_calls=0)
    assert {(r.agent_name, r.model, r.runs, r.llm_calls) for r in rows} == {
        ("invoice-bot", "", 1, 0),
        ("invoice-bot", "gpt-4o", 0, 1),
    }


def test_an_unknown_model_is_unpriced_not_free(project):
    apply_now(project, [ev("usage", "r", model="in-house-7b", input_tokens=5, output_tokens=5)])

    run = Run.objects.get(run_id="r")
    assert run.unpriced_calls == 1
    assert LlmCall.objects.get(run=run).cost is None


def test_revenue_is_stored_once_per_external_id_and_never_mixes_currencies(project):
    charge = ev("revenue", "r", kind="charge", amount="12.50", currency="usd", external_id="ch_1")
    same_charge_new_event_id = {**charge, "event_id": "other"}
    apply_now(project, [
        charge,
        ev("revenue", "r", kind="charge", amount="0.10", currency="EUR", external_id="ch_2"),
        ev("revenue", "r", kind="refund", amount="2.25", currency="USD", refund_of="ch_1"),
    ])  # fmt: skip
    apply_now(project, [same_charge_new_event_id])

    assert RevenueEvent.objects.filter(project=project).count() == 3
    assert Run.objects.get(run_id="r").revenue == {"USD": "10.25", "EUR": "0.10"}
    usd = RevenueDaily.objects.get(project_id=project.id, currency="USD")
    assert (usd.charges, usd.refunds) == (Decimal("12.50"), Decimal("2.25"))


def test_errors_with_different_ids_group_together(project):
    for n in range(3):
        error = {"type": "TimeoutError", "message": f"request {n}42 timed out"}
        apply_now(project, [ev("error", f"r{n}", error=error)])

    group = ErrorGroup.objects.get(project=project)
    assert (group.event_count, group.run_count) == (3, 3)


def test_one_error_in_several_runs_of_one_batch_counts_each_run_once(project):
    timeout = {"type": "TimeoutError", "message": "upstream timed out"}
    apply_now(project, [
        ev("error", "r1", at=1, agent="invoice-bot", error=timeout),
        ev("tool_error", "r1", at=0.5, agent="invoice-bot", tool_name="fetch", error=timeout),
        ev("error", "r2", at=2, agent="support-bot", error=timeout),
        ev("error", "r3", at=86_400, agent="support-bot", error=timeout),
    ])  # fmt: skip
    apply_now(project, [ev("tool_error", "r2", at=3, tool_name="fetch", error=timeout)])

    group = ErrorGroup.objects.get(project=project)
    assert (group.event_count, group.run_count) == (5, 3)
    assert group.agents == ["invoice-bot", "support-bot"]
    assert sorted(group.daily.values_list("count", flat=True)) == [1, 4]
    assert {r.error_group_id for r in Run.objects.filter(project=project)} == {group.pk}


def _stored_spans(project, run_id: str) -> list[tuple]:
    rows = ToolSpan.objects.filter(project_id=project.id, run__run_id=run_id).values_list(
        "span_key", "explicit", "tool_name", "status", "started_at", "ended_at",
        "input_str", "output", "error",
    )  # fmt: skip
    return sorted((*row[:7], repr(row[7]), repr(row[8])) for row in rows)


def _copy(events: list[dict], run_id: str) -> list[dict]:
    """The events as another run's: event ids are unique in a project."""
    return [dict(e, run_id=run_id, event_id=f"{run_id}-{i}") for i, e in enumerate(events)]


def test_spans_are_the_same_whatever_batches_and_order_their_events_come_in(project):
    """Spans with a span_id are patched batch by batch, those without are rebuilt: the
    spans stored are those of all the events applied at once, in every arrival order."""
    at_two = {"at": 2}
    events = [
        ev("tool_start", "r", at=1, seq=1, tool_name="search", input_str="a", span_id="s1"),
        ev("tool_start", "r", at=1, seq=2, tool_name="search", input_str="b", span_id="s2"),
        # Two ends of s1 at one time: the lower seq wins, whichever is applied first.
        ev("tool_end", "r", seq=4, tool_name="search", output="A2", span_id="s1", **at_two),
        ev("tool_end", "r", seq=3, tool_name="search", output="A1", span_id="s1", **at_two),
        ev("tool_error", "r", at=3, seq=5, tool_name="search", span_id="s2",
           error={"type": "Timeout", "message": "slow"}),
        # A second start of s2, later: ignored.
        ev("tool_start", "r", at=4, seq=6, tool_name="search", input_str="late", span_id="s2"),
        # Without span ids, the same tool pairs by order, beside the explicit spans.
        ev("tool_start", "r", at=5, seq=7, tool_name="search", input_str="c"),
        ev("tool_end", "r", at=6, seq=8, tool_name="search", output="C"),
        ev("tool_end", "r", at=7, seq=9, tool_name="fetch", output="orphan", span_id="f1"),
    ]  # fmt: skip
    apply_now(project, _copy(events, "whole"))
    expected = _stored_spans(project, "whole")
    assert {(key, status) for key, _, _, status, *_ in expected} == {
        ("s1", "ok"), ("s2", "error"), ("search#1", "ok"), ("f1", "ok"),
    }  # fmt: skip
    assert next(row for row in expected if row[0] == "s1")[7] == "'A1'"
    assert next(row for row in expected if row[0] == "s2")[6] == "b"

    rng = random.Random(7)
    for attempt in range(6):
        run_id = f"split-{attempt}"
        shuffled = _copy(events, run_id)
        rng.shuffle(shuffled)
        cuts = sorted(rng.sample(range(1, len(shuffled)), 3))
        for part in (shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, None], strict=True)):
            apply_now(project, part)
        apply_now(project, shuffled[:2])  # a re-sent piece changes nothing
        assert _stored_spans(project, run_id) == expected, f"order {attempt}"
