"""Re-pricing: after a price row is added or edited, the calls it covers are costed
again, and their runs and the hourly usage rollup move by the exact difference.

Default gpt-4o price (shipped, from 2024-05-13), USD per 1M tokens:
input 2.50, output 10.00, cache read 1.25, cache write 2.50.
T0 is 2026-11-20 09:00 UTC.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.db.models import Sum

from billing.models import ModelPrice
from billing.services import (
    PriceData,
    PriceError,
    RepriceScope,
    calls_reprice,
    price_create,
    price_update,
    scope_of,
)
from runs.models import LlmCall, Run, UsageHourly
from tests.conftest import apply_now, ev, wait_for

D = Decimal
DAY = 86_400


def usage_run(run_id: str, *, at: float, model: str = "gpt-4o", agent: str = "invoice-bot",
              **tokens) -> list[dict]:  # fmt: skip
    """A finished run with one LLM call reporting usage `at` seconds after T0."""
    return [
        ev("run_start", run_id, at=at, seq=0, agent=agent, environment="cloud"),
        ev("usage", run_id, at=at + 1, seq=1, agent=agent, model=model, call_id="c1", **tokens),
        ev("run_end", run_id, at=at + 2, seq=2, agent=agent, outputs={}),
    ]


def gpt4o_price(effective_from: date, **rates: str) -> PriceData:
    values = {"input_per_m": "2.00", "output_per_m": "8.00", "cache_read_per_m": "0.50",
              "cache_write_per_m": "2.00", **rates}  # fmt: skip
    return PriceData(
        model_pattern="gpt-4o",
        match="prefix",
        effective_from=effective_from,
        **{name: D(value) for name, value in values.items()},
    )


def call_of(project, run_id: str) -> LlmCall:
    return LlmCall.objects.get(run__project=project, run__run_id=run_id)


def totals(project) -> dict:
    """Cost and unpriced calls three ways: calls, runs, rollup. They must always agree."""
    calls = LlmCall.objects.filter(project_id=project.id, usage_at__isnull=False)
    runs = Run.objects.filter(project=project).aggregate(
        cost=Sum("cost"), unpriced=Sum("unpriced_calls")
    )
    rollup = UsageHourly.objects.filter(project_id=project.id).aggregate(
        cost=Sum("cost"), unpriced=Sum("unpriced_calls")
    )
    return {
        "calls": (calls.aggregate(s=Sum("cost"))["s"] or D(0), calls.filter(cost=None).count()),
        "runs": (runs["cost"], runs["unpriced"]),
        "rollup": (rollup["cost"], rollup["unpriced"]),
    }


@pytest.fixture
def mid_month(project):
    """Three gpt-4o calls around a price change on 2026-11-15 (UTC days):

    a: Nov 10 09:00:01, 1000 in, 200 out
       default: 1000 × 2.50/1M + 200 × 10/1M = 0.0025 + 0.002 = 0.0045
    b: Nov 14 23:59:59 (the last second before the change), 1000 in, 200 out: 0.0045
    c: Nov 20 09:00:01, 2000 in, 100 out, 4000 cache read
       default: 0.005 + 0.001 + 4000 × 1.25/1M (0.005) = 0.011
    """
    apply_now(project, usage_run("run_a", at=-10 * DAY, input_tokens=1000, output_tokens=200))
    before_midnight = -5 * DAY - 9 * 3600 - 2  # Nov 14 23:59:58, so usage at 23:59:59
    apply_now(project, usage_run("run_b", at=before_midnight, input_tokens=1000, output_tokens=200))
    apply_now(
        project,
        usage_run("run_c", at=0, input_tokens=2000, output_tokens=100, cache_read_tokens=4000),
    )
    assert [call_of(project, r).cost for r in ("run_a", "run_b", "run_c")] == [
        D("0.0045"), D("0.0045"), D("0.011"),
    ]  # fmt: skip
    assert totals(project)["runs"] == (D("0.0200"), 0)


def test_a_price_added_mid_month_reprices_only_the_calls_from_its_day_on(org, project, mid_month):
    price = price_create(organization=org, data=gpt4o_price(date(2026, 11, 15)))

    result = calls_reprice(organization_id=org.id, scope=scope_of(None, price))

    # c at the new price: 2000 × 2.00/1M + 100 × 8.00/1M + 4000 × 0.50/1M
    #                   = 0.004 + 0.0008 + 0.002 = 0.0068 (was 0.011: −0.0042)
    assert call_of(project, "run_a").cost == D("0.0045")
    assert call_of(project, "run_b").cost == D("0.0045")  # one second before the change
    assert call_of(project, "run_c").cost == D("0.0068")
    assert call_of(project, "run_c").price_id == price.id
    assert call_of(project, "run_a").price_id != price.id  # still the shipped default
    assert Run.objects.get(project=project, run_id="run_c").cost == D("0.0068")
    # 0.0045 + 0.0045 + 0.0068 = 0.0158, the same in calls, runs and rollup
    assert totals(project) == {
        "calls": (D("0.0158"), 0), "runs": (D("0.0158"), 0), "rollup": (D("0.0158"), 0),
    }  # fmt: skip
    assert (result.calls_checked, result.calls_changed, result.runs_changed) == (1, 1, 1)
    assert result.cost_delta == D("-0.0042")


def test_the_rollup_moves_in_the_hour_of_the_call(org, project, mid_month):
    price = price_create(organization=org, data=gpt4o_price(date(2026, 11, 15)))
    calls_reprice(organization_id=org.id, scope=scope_of(None, price))

    by_hour = dict(
        UsageHourly.objects.filter(project_id=project.id)
        .exclude(model="")
        .values_list("hour__day", "cost")
    )
    assert by_hour == {10: D("0.0045"), 14: D("0.0045"), 20: D("0.0068")}


def test_repricing_again_changes_nothing(org, project, mid_month):
    price = price_create(organization=org, data=gpt4o_price(date(2026, 11, 15)))
    calls_reprice(organization_id=org.id, scope=scope_of(None, price))
    before = totals(project)

    again = calls_reprice(organization_id=org.id, scope=scope_of(None, price))

    assert again.calls_changed == 0
    assert totals(project) == before


def test_moving_a_price_earlier_reprices_the_calls_it_now_covers(org, project, mid_month):
    price = price_create(organization=org, data=gpt4o_price(date(2026, 11, 15)))
    calls_reprice(organization_id=org.id, scope=scope_of(None, price))
    before = ModelPrice.objects.get(pk=price.pk)

    edited = price_update(price=price, data=gpt4o_price(date(2026, 11, 14)))
    calls_reprice(organization_id=org.id, scope=scope_of(before, edited))

    # b (Nov 14 23:59:59) is now covered: 1000 × 2.00/1M + 200 × 8.00/1M = 0.002 + 0.0016
    assert call_of(project, "run_b").cost == D("0.0036")
    # 0.0045 + 0.0036 + 0.0068 = 0.0149
    assert totals(project)["rollup"] == (D("0.0149"), 0)


def test_moving_a_price_later_gives_calls_back_their_earlier_price(org, project, mid_month):
    price = price_create(organization=org, data=gpt4o_price(date(2026, 11, 15)))
    calls_reprice(organization_id=org.id, scope=scope_of(None, price))
    before = ModelPrice.objects.get(pk=price.pk)

    edited = price_update(price=price, data=gpt4o_price(date(2026, 12, 1)))
    calls_reprice(organization_id=org.id, scope=scope_of(before, edited))

    assert call_of(project, "run_c").cost == D("0.011")  # the shipped default again
    assert call_of(project, "run_c").price_id != price.id
    assert totals(project)["runs"] == (D("0.0200"), 0)


def test_an_unpriced_model_is_priced_and_leaves_the_unpriced_count(org, project):
    apply_now(project, usage_run("r", at=0, model="in-house-7b", input_tokens=5000,
                                 output_tokens=1000))  # fmt: skip
    assert totals(project) == {"calls": (D(0), 1), "runs": (D(0), 1), "rollup": (D(0), 1)}
    data = PriceData(model_pattern="in-house-7b", match="exact", effective_from=date(2026, 11, 1),
                     input_per_m=D("0.10"), output_per_m=D("0.20"))  # fmt: skip

    price = price_create(organization=org, data=data)
    result = calls_reprice(organization_id=org.id, scope=scope_of(None, price))

    # 5000 × 0.10/1M + 1000 × 0.20/1M = 0.0005 + 0.0002 = 0.0007
    assert totals(project) == {
        "calls": (D("0.0007"), 0), "runs": (D("0.0007"), 0), "rollup": (D("0.0007"), 0),
    }  # fmt: skip
    assert result.unpriced_delta == -1
    assert call_of(project, "r").price_id == price.id


def test_a_price_moved_after_its_calls_makes_them_unpriced_again(org, project):
    apply_now(project, usage_run("r", at=0, model="in-house-7b", input_tokens=5000,
                                 output_tokens=1000))  # fmt: skip
    data = PriceData(model_pattern="in-house-7b", match="exact", effective_from=date(2026, 11, 1),
                     input_per_m=D("0.10"), output_per_m=D("0.20"))  # fmt: skip
    price = price_create(organization=org, data=data)
    calls_reprice(organization_id=org.id, scope=scope_of(None, price))
    before = ModelPrice.objects.get(pk=price.pk)

    later = PriceData(**{**data.__dict__, "effective_from": date(2026, 12, 1)})
    calls_reprice(
        organization_id=org.id, scope=scope_of(before, price_update(price=price, data=later))
    )

    assert totals(project) == {"calls": (D(0), 1), "runs": (D(0), 1), "rollup": (D(0), 1)}
    assert call_of(project, "r").cost is None


def test_a_glob_price_reprices_every_model_it_matches(org, project):
    apply_now(project, usage_run("r1", at=0, model="acme/llama-3-8b", input_tokens=1_000_000,
                                 output_tokens=0))  # fmt: skip
    apply_now(project, usage_run("r2", at=10, model="llama-3-70b", input_tokens=0,
                                 output_tokens=1_000_000))  # fmt: skip
    apply_now(project, usage_run("r3", at=20, model="mistral-7b", input_tokens=10, output_tokens=0))
    data = PriceData(model_pattern="llama-3-*", match="glob", effective_from=date(2026, 1, 1),
                     input_per_m=D("0.05"), output_per_m=D("0.25"))  # fmt: skip

    price = price_create(organization=org, data=data)
    result = calls_reprice(organization_id=org.id, scope=scope_of(None, price))

    # r1: 1M input × 0.05/1M = 0.05; r2: 1M output × 0.25/1M = 0.25; mistral stays unpriced
    assert result.models == ["acme/llama-3-8b", "llama-3-70b"]
    assert call_of(project, "r1").cost == D("0.05")
    assert call_of(project, "r2").cost == D("0.25")
    assert call_of(project, "r3").cost is None
    assert totals(project)["rollup"] == (D("0.30"), 1)


def test_another_organizations_calls_keep_their_cost(org, project, other_project):
    apply_now(project, usage_run("mine", at=0, input_tokens=1000, output_tokens=200))
    apply_now(other_project, usage_run("theirs", at=0, input_tokens=1000, output_tokens=200))

    price = price_create(organization=org, data=gpt4o_price(date(2026, 11, 1)))
    calls_reprice(organization_id=org.id, scope=scope_of(None, price))

    # mine: 1000 × 2.00/1M + 200 × 8.00/1M = 0.0036; theirs keeps the default 0.0045
    assert call_of(project, "mine").cost == D("0.0036")
    assert call_of(other_project, "theirs").cost == D("0.0045")
    assert totals(other_project)["rollup"] == (D("0.0045"), 0)


def test_a_change_to_a_shipped_default_reprices_every_organization(project, other_project):
    apply_now(project, usage_run("a", at=0, input_tokens=1000, output_tokens=0))
    apply_now(other_project, usage_run("b", at=0, input_tokens=1000, output_tokens=0))
    default = ModelPrice.objects.get(organization=None, model_pattern="gpt-4o", match="prefix")
    before = ModelPrice.objects.get(pk=default.pk)
    default.input_per_m = D("3.00")
    default.save()

    result = calls_reprice(organization_id=None, scope=scope_of(before, default))

    # 1000 × 3.00/1M = 0.003 in both organizations (was 0.0025)
    assert call_of(project, "a").cost == D("0.003")
    assert call_of(other_project, "b").cost == D("0.003")
    assert result.calls_changed == 2


def test_sums_stay_exact_over_many_small_calls(org, project):
    # 30 calls of 1 input token each at 0.1/1M and 1 output token at 0.2/1M:
    # each costs 0.0000001 + 0.0000002 = 0.0000003, together exactly 0.000009
    for n in range(30):
        apply_now(project, usage_run(f"r{n}", at=n * 60, model="tiny", input_tokens=1,
                                     output_tokens=1))  # fmt: skip
    data = PriceData(model_pattern="tiny", match="exact", effective_from=date(2026, 1, 1),
                     input_per_m=D("0.1"), output_per_m=D("0.2"))  # fmt: skip

    price = price_create(organization=org, data=data)
    calls_reprice(organization_id=org.id, scope=scope_of(None, price))

    assert totals(project) == {
        "calls": (D("0.000009"), 0), "runs": (D("0.000009"), 0), "rollup": (D("0.000009"), 0),
    }  # fmt: skip


def test_many_runs_are_repriced_chunk_by_chunk(org, project, monkeypatch):
    monkeypatch.setattr("billing.services.RUNS_PER_CHUNK", 2)
    for n in range(5):
        apply_now(project, usage_run(f"r{n}", at=n * 60, input_tokens=1000, output_tokens=200))

    price = price_create(organization=org, data=gpt4o_price(date(2026, 11, 15)))
    result = calls_reprice(organization_id=org.id, scope=scope_of(None, price))

    # 5 × (1000 × 2.00/1M + 200 × 8.00/1M) = 5 × 0.0036 = 0.018
    assert result.runs_changed == 5
    assert totals(project)["rollup"] == (D("0.018"), 0)


def test_saving_a_price_queues_repricing_after_the_commit(
    org, project, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        price_create(organization=org, data=gpt4o_price(date(2026, 11, 15)))
    assert len(callbacks) == 1


def test_a_second_row_for_the_same_model_and_day_is_refused(org, project):
    price_create(organization=org, data=gpt4o_price(date(2026, 11, 15)))
    with pytest.raises(PriceError, match="already a prefix row for gpt-4o"):
        price_create(organization=org, data=gpt4o_price(date(2026, 11, 15), input_per_m="1"))


def test_shipped_defaults_are_not_edited_through_the_organization_form(org, project):
    default = ModelPrice.objects.filter(organization=None).first()
    with pytest.raises(PriceError, match="cannot be edited"):
        price_update(price=default, data=gpt4o_price(date(2026, 11, 15)))


def test_a_scope_travels_through_the_task_queue_as_json():
    scope = RepriceScope(
        patterns=(("gpt-4o", "prefix"), ("gpt-4*", "glob")), since=date(2026, 11, 15)
    )
    assert RepriceScope.from_json(scope.to_json()) == scope
    assert scope.matches("openai/GPT-4o-mini")
    assert not scope.matches("o3")


@pytest.mark.worker
def test_a_price_saved_in_the_app_is_applied_by_a_real_worker(worker, org, project, settings):
    settings.BILLING_REPRICE_SECOND_PASS_SECONDS = 0  # nothing left queued after the test
    apply_now(
        project,
        usage_run("run_c", at=0, input_tokens=2000, output_tokens=100, cache_read_tokens=4000),
    )
    worker()

    price_create(organization=org, data=gpt4o_price(date(2026, 11, 15)))  # commits: autocommit

    # 0.011 at the default price, 0.0068 at the new one (see test above)
    wait_for(lambda: call_of(project, "run_c").cost == D("0.0068"))
    assert totals(project)["rollup"] == (D("0.0068"), 0)
    assert totals(project)["runs"] == (D("0.0068"), 0)
