"""The pipeline's bulk writes (`studio.sql`): every row comes back as it was written,
defaults filled in, JSON, numerics and times included, for one row or many."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from runs.models import LlmCall, Run
from studio.sql import insert_models, insert_rows, update_rows

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def a_run(project, run_id: str = "run-1") -> Run:
    return Run.objects.create(
        project=project, run_id=run_id, started_at=T0, first_event_at=T0, last_event_at=T0
    )


def stored(call: LlmCall) -> tuple:
    return (
        call.call_id, call.model, call.tokens, call.token_count, call.started_at,
        call.prompt, call.details, call.cost, call.input_tokens,
    )  # fmt: skip


def test_rows_keep_their_values_with_columns_both_shared_and_varying(project):
    run = a_run(project)
    rows = [
        {
            "project_id": project.pk,
            "run_id": run.pk,
            "call_id": f"call-{n}",
            "model": "gpt-4o-mini",  # the same in every row
            "started_at": T0 + timedelta(seconds=n) if n % 2 else None,
            "prompt": [{"role": "user", "content": f"question {n}"}],
            "details": {"attempt": 1},  # the same JSON in every row
            "cost": Decimal("0.0000123456") * n,
            "input_tokens": 100,
        }
        for n in range(5)
    ]
    insert_rows(LlmCall, rows)

    calls = list(LlmCall.objects.order_by("call_id"))
    assert [stored(c) for c in calls] == [
        (
            f"call-{n}", "gpt-4o-mini", [], 0, T0 + timedelta(seconds=n) if n % 2 else None,
            [{"role": "user", "content": f"question {n}"}], {"attempt": 1},
            Decimal("0.0000123456") * n, 100,
        )
        for n in range(5)
    ]  # fmt: skip


def test_a_single_row_and_rows_alike_in_every_column_but_the_key_are_written(project):
    run = a_run(project)
    insert_rows(LlmCall, [{"project_id": project.pk, "run_id": run.pk, "call_id": "only"}])
    other = a_run(project, "run-2")
    runs = [
        Run(project=project, run_id=f"same-{n}", started_at=T0, first_event_at=T0,
            last_event_at=T0, pk=other.pk + 1 + n)
        for n in range(3)
    ]  # fmt: skip
    assert len(insert_models(runs, returning="id")) == 3

    (call,) = LlmCall.objects.all()
    assert (call.call_id, call.model, call.tokens, call.details) == ("only", "", [], {})
    made = Run.objects.filter(run_id__startswith="same-").values_list("run_id", flat=True)
    assert sorted(made) == ["same-0", "same-1", "same-2"]


def test_update_rows_writes_each_row_its_own_values_and_shared_ones_to_all(project):
    run = a_run(project)
    insert_rows(
        LlmCall,
        [{"project_id": project.pk, "run_id": run.pk, "call_id": f"c{n}"} for n in range(3)],
    )
    calls = list(LlmCall.objects.order_by("call_id"))
    for n, call in enumerate(calls):
        call.model = "claude"  # shared
        call.output_tokens = 10 * n  # varying
        call.details = {"n": n}
    update_rows(LlmCall, calls, exclude=("project_id", "run_id", "call_id"))

    assert list(
        LlmCall.objects.order_by("call_id").values_list("model", "output_tokens", "details")
    ) == [("claude", 0, {"n": 0}), ("claude", 10, {"n": 1}), ("claude", 20, {"n": 2})]
