"""Each rule kind against real data applied through the pipeline: what fires, what does
not, and where the notification links."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from alerts.deliveries import deliveries_send_now
from alerts.evaluation import alerts_evaluate
from alerts.models import Incident, Rule
from alerts.services import rule_fields
from billing.models import ToolPrice, ToolUsageHourly
from runs.ingest.inbox import batch_store
from runs.models import ErrorGroup, IngestBatch
from runs.protocol import validate_event
from tests.conftest import T0, apply_now, ev
from tests.runs.test_views_run_list import ago, run_events, shown_run_ids

BOOM = {"type": "KeyError", "message": "'customer_id'"}


def test_a_new_error_group_fires_once_and_links_to_its_group(project, add_rule, owner_client):
    rule = add_rule("new_error_group", window_minutes=60)
    # An error known before the rule existed, seen again now: not new.
    apply_now(project, run_events("old_1", status="failed", started=7200))
    apply_now(project, run_events("old_2", status="failed", started=60))
    Rule.objects.filter(pk=rule.pk).update(created_at=timezone.now() - timedelta(hours=1))
    alerts_evaluate()
    assert not Incident.objects.exists()

    apply_now(project, run_events("new_1", status="failed", started=30, error=BOOM))
    alerts_evaluate()
    alerts_evaluate()

    group = ErrorGroup.objects.get(error_type="KeyError")
    (incident,) = Incident.objects.all()
    assert incident.link == f"/errors/{group.pk}/"
    assert incident.title.startswith("New error: KeyError")
    assert "customer_id" in owner_client.get(incident.link).content.decode()


def test_a_resolved_new_error_group_does_not_open_again_when_it_recurs(project, add_rule, settings):
    settings.ALERT_RESOLVE_AFTER_SECONDS = 0
    add_rule("new_error_group", window_minutes=10)
    apply_now(project, run_events("e1", status="failed", started=30, error=BOOM))
    now = timezone.now()
    alerts_evaluate(now=now)
    alerts_evaluate(now=now + timedelta(minutes=30))  # quiet for the window: resolved
    assert Incident.objects.get().status == "resolved"

    apply_now(project, run_events("e2", status="failed", started=0, error=BOOM))
    alerts_evaluate(now=now + timedelta(minutes=31))

    assert Incident.objects.count() == 1


def test_a_run_with_no_event_for_longer_than_the_window_fires_and_links_to_it(project, add_rule):
    add_rule("stalled", threshold="1", window_minutes=15)
    apply_now(project, run_events("hung", status="running", started=20 * 60))
    apply_now(project, run_events("busy", status="running", started=60))

    alerts_evaluate()

    incident = Incident.objects.get()
    assert incident.title.startswith("1 run(s) stalled over 15 min")
    assert incident.link == "/runs/hung/"


def test_several_stalled_runs_link_to_the_filtered_runs_list(project, add_rule, owner_client):
    add_rule("stalled", threshold="2", window_minutes=15, environment="local")
    apply_now(project, run_events("h1", status="running", started=1800, environment="local"))
    apply_now(project, run_events("h2", status="running", started=1900, environment="local"))
    apply_now(project, run_events("h3", status="running", started=1900, environment="cloud"))

    alerts_evaluate()

    incident = Incident.objects.get()
    assert incident.context["count"] == 2
    assert incident.link.startswith("/runs/?environment=local&status=running&until=")
    assert shown_run_ids(owner_client.get(incident.link)) == ["h1", "h2"]


def _usage_run(run_id: str, at: float, calls: int) -> list[dict]:
    events = [ev("run_start", run_id, at=at, environment="cloud")]
    events += [
        ev("usage", run_id, at=at + n, model="gpt-4o", input_tokens=1000, output_tokens=200,
           call_id=f"c{n}")
        for n in range(calls)
    ]  # fmt: skip
    return events


def test_cost_this_hour_far_above_the_same_hours_median_fires(project, add_rule):
    add_rule("cost_spike", threshold="3")
    now = timezone.now()
    base = (now - T0).total_seconds()
    history = [e for d in range(1, 8) for e in _usage_run(f"day{d}", base - d * 86400, 1)]
    apply_now(project, history)
    apply_now(project, _usage_run("today_a", base, 2))
    alerts_evaluate(now=now)
    assert not Incident.objects.exists()  # 2× the median: under 3×

    apply_now(project, _usage_run("today_b", base, 3))
    alerts_evaluate(now=now)

    incident = Incident.objects.get()
    assert incident.key == "currency:USD"
    assert incident.context["factor"] == "5.00"
    assert "0.0225 USD" in incident.summary and "0.0045" in incident.summary


def test_tool_cost_counts_in_the_spike_at_the_organizations_tool_price(project, add_rule):
    ToolPrice.objects.create(
        organization=project.organization, tool="search", unit_price=Decimal("0.01"),
        currency="USD", effective_from=date(2020, 1, 1),
    )  # fmt: skip
    add_rule("cost_spike", threshold="3")
    now = timezone.now()
    base = (now - T0).total_seconds()
    history = [e for d in range(1, 8) for e in _usage_run(f"day{d}", base - d * 86400, 1)]
    apply_now(project, history)
    # Today: one call as usual (0.0045), plus 5 searches at 0.01: 0.0545, 12× the median.
    apply_now(
        project, [*_usage_run("today", base, 1), ev("tool_usage", "today", at=base + 2,
                                                       tool="search", count=5)]
    )  # fmt: skip

    alerts_evaluate(now=now)

    incident = Incident.objects.get()
    assert incident.context["cost"] == "0.0545000000"
    assert ToolUsageHourly.objects.get(tool="search").count == 5


def _refund(run_id: str, amount: str, currency: str) -> dict:
    return ev("revenue", run_id, at=ago(60), kind="refund", amount=amount, currency=currency)


def test_refunds_above_the_day_threshold_fire_per_currency(project, add_rule, owner_client):
    add_rule("refunds", threshold="100")
    apply_now(
        project,
        [
            *run_events("rf", started=120),
            _refund("rf", "60.00", "USD"),
            _refund("rf", "50.00", "USD"),
            _refund("rf", "99.00", "EUR"),
        ],
    )

    alerts_evaluate()

    incident = Incident.objects.get()
    assert incident.key == "currency:USD"
    assert incident.title.startswith("Refunds today 110.00 USD")
    today = timezone.now().date().isoformat()
    assert incident.link == f"/revenue/?from={today}&to={today}&currency=USD&kind=refund"
    assert owner_client.get(incident.link).status_code == 200


def test_refunds_in_yen_are_told_in_whole_yen(project, add_rule):
    add_rule("refunds", threshold="10000", currency="jpy")
    apply_now(project, [*run_events("ry", started=120), _refund("ry", "12345", "JPY")])

    alerts_evaluate()

    incident = Incident.objects.get()
    assert incident.title.startswith("Refunds today 12,345 JPY")


def test_a_refunds_rule_takes_only_an_iso_4217_currency():
    with pytest.raises(ValueError, match="currency: 'XXQ' is not an ISO 4217 currency"):
        rule_fields(kind="refunds", currency="xxq")
    assert rule_fields(kind="refunds", currency=" jpy")["currency"] == "JPY"


def _batch(project) -> IngestBatch:
    with transaction.atomic():
        (batch,) = batch_store(  # one run: one shard, one batch
            project=project, events=[validate_event(e) for e in run_events("b1")], rejected=[]
        )
    return batch


def test_a_failed_batch_and_a_waiting_backlog_fire_and_link_to_ingest_health(project, add_rule):
    add_rule("ingest", threshold="1", window_minutes=5)
    failed, waiting = _batch(project), _batch(project)
    IngestBatch.objects.filter(pk=failed.pk).update(status="failed", last_error="boom")
    IngestBatch.objects.filter(pk=waiting.pk).update(
        received_at=timezone.now() - timedelta(minutes=10)
    )

    alerts_evaluate()

    incidents = {i.key: i for i in Incident.objects.all()}
    assert set(incidents) == {"failed", "backlog"}
    assert incidents["backlog"].link == "/runs/health/"


def test_one_projects_data_never_fires_another_projects_rule(project, other_project, add_rule):
    add_rule("failure_rate", threshold="0", min_runs=1)
    apply_now(other_project, run_events("theirs", status="failed", started=60))

    alerts_evaluate()

    assert not Incident.objects.exists()


def test_a_burst_of_new_error_groups_is_one_message_naming_them(
    project, add_rule, webhook_receiver
):
    add_rule("new_error_group", webhooks=[webhook_receiver.url])
    apply_now(
        project,
        [
            e
            for n in range(6)
            for e in run_events(
                f"burst_{n}", status="failed", started=30,
                error={"type": f"Error{chr(65 + n)}", "message": "broke"},
            )
        ],
    )  # fmt: skip

    deliveries_send_now(alerts_evaluate().delivery_ids)

    assert Incident.objects.count() == 6
    (body,) = webhook_receiver.bodies()
    assert body["title"] == "6 incidents opened: New error group"
    assert body["summary"].endswith("; and 1 more")
    assert body["link"] == "http://localhost:8000/errors/"
