"""The Alerts page: who sees and who edits, forms with CSRF, escaping, one project's
data only, the secret shown once, and the "Send test" button."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.models import Channel, Delivery, Incident, Rule
from alerts.services import channel_get_or_create, rule_create
from tests.conftest import login


@pytest.fixture
def as_role(make_member):
    return lambda role: login(make_member(role))


def test_an_owner_adds_a_channel_and_a_rule_and_sees_them_listed(owner_client, project):
    owner_client.post("/alerts/channels/", {"type": "email", "target": "oncall@example.com"})
    channel = Channel.objects.get()
    response = owner_client.post(
        "/alerts/rules/",
        {"kind": "failure_rate", "name": "Invoices failing", "threshold": "25",
         "window_minutes": "30", "min_runs": "5", "agent": "invoice-bot",
         "channels": [channel.pk]},
    )  # fmt: skip

    assert response.status_code == 302
    rule = Rule.objects.get()
    assert (rule.threshold, rule.window_minutes, rule.agent_name) == (25, 30, "invoice-bot")
    assert list(rule.channels.all()) == [channel]
    html = owner_client.get("/alerts/").content.decode()
    assert "Invoices failing" in html
    assert "failed &gt; 25% of ≥ 5 finished runs, last 30 min" in html
    assert "oncall@example.com" in html


def test_a_bad_threshold_is_refused_with_a_message(owner_client, project):
    response = owner_client.post(
        "/alerts/rules/", {"kind": "stalled", "threshold": "lots"}, follow=True
    )

    assert not Rule.objects.exists()
    assert "Threshold: a number; got &#x27;lots&#x27;." in response.content.decode()


@pytest.mark.parametrize("role", ["support", "finance"])
def test_support_and_finance_see_rules_but_cannot_change_them(as_role, project, role):
    rule = rule_create(project=project, kind="stalled", name="Hung runs")
    client = as_role(role)

    html = client.get("/alerts/").content.decode()
    assert "Hung runs" in html
    assert 'method="post" action="/alerts/' not in html  # no form to change anything
    assert client.post(f"/alerts/rules/{rule.pk}/delete/").status_code == 403
    assert client.post("/alerts/rules/", {"kind": "stalled", "threshold": "1"}).status_code == 403
    assert Rule.objects.count() == 1


def test_refunds_rules_are_hidden_from_members_without_revenue_access(as_role, project):
    rule_create(project=project, kind="refunds", name="Refund wave", threshold="100")

    assert "Refund wave" not in as_role("developer").get("/alerts/").content.decode()
    assert "Refund wave" in as_role("finance").get("/alerts/").content.decode()
    response = as_role("developer").post(
        "/alerts/rules/", {"kind": "refunds", "threshold": "5"}, follow=True
    )
    assert "Refunds rules need access to revenue" in response.content.decode()
    assert Rule.objects.count() == 1


def test_another_organizations_rule_cannot_be_seen_or_touched(owner_client, other_project):
    theirs = rule_create(project=other_project, kind="stalled", name="Globex secret rule")

    assert "Globex secret rule" not in owner_client.get("/alerts/").content.decode()
    assert owner_client.post(f"/alerts/rules/{theirs.pk}/delete/").status_code == 404
    assert owner_client.post(f"/alerts/rules/{theirs.pk}/mute/", {"for": "1h"}).status_code == 404
    assert Rule.objects.filter(pk=theirs.pk, muted_until__isnull=True).exists()


def test_names_and_targets_are_escaped(owner_client, project):
    rule_create(project=project, kind="stalled", name="<script>alert(1)</script>")

    html = owner_client.get("/alerts/").content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_forms_need_the_csrf_token(owner, project):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    response = client.post("/alerts/rules/", {"kind": "stalled", "threshold": "1"})

    assert response.status_code == 403
    assert not Rule.objects.exists()


def test_muting_sets_an_end_time_and_unmuting_clears_it(owner_client, project):
    rule = rule_create(project=project, kind="stalled")

    owner_client.post(f"/alerts/rules/{rule.pk}/mute/", {"for": "4h"})
    rule.refresh_from_db()
    assert timedelta(hours=3, minutes=59) < rule.muted_until - timezone.now() <= timedelta(hours=4)
    assert "muted until" in owner_client.get("/alerts/").content.decode()

    owner_client.post(f"/alerts/rules/{rule.pk}/unmute/")
    rule.refresh_from_db()
    assert rule.muted_until is None


def test_a_webhook_secret_is_shown_once_then_masked(owner_client, project, webhook_receiver):
    response = owner_client.post(
        "/alerts/channels/", {"type": "webhook", "target": webhook_receiver.url}, follow=True
    )
    secret = Channel.objects.get().secret

    assert secret in response.content.decode()
    again = owner_client.get("/alerts/").content.decode()
    assert secret not in again
    assert f"…{secret[-4:]}" in again


def test_send_test_reaches_the_webhook_and_logs_its_answer(owner_client, project, webhook_receiver):
    channel, _ = channel_get_or_create(
        project=project, type_="webhook", target=webhook_receiver.url
    )

    response = owner_client.post(f"/alerts/channels/{channel.pk}/test/", follow=True)

    assert "(HTTP 200)" in response.content.decode()
    (body,) = webhook_receiver.bodies()
    assert body["event"] == "test" and body["text"].startswith("[Test]")
    assert Delivery.objects.get().status == "sent"


def test_send_test_to_a_failing_webhook_says_why(owner_client, project, webhook_receiver):
    webhook_receiver.answers = [502]
    channel, _ = channel_get_or_create(
        project=project, type_="webhook", target=webhook_receiver.url
    )

    response = owner_client.post(f"/alerts/channels/{channel.pk}/test/", follow=True)

    assert "failed: HTTP 502" in response.content.decode()
    assert Delivery.objects.get().status == "failed"


def test_an_owner_edits_a_rules_threshold_filters_channels_and_mute_end(owner_client, project):
    email, _ = channel_get_or_create(project=project, type_="email", target="a@example.com")
    rule = rule_create(project=project, kind="failure_rate", name="Failing", channels=[email])
    page = owner_client.get(f"/alerts/rules/{rule.pk}/").content.decode()
    assert 'value="Failing"' in page and "checked" in page

    owner_client.post(
        f"/alerts/rules/{rule.pk}/",
        {"name": "Failing in cloud", "threshold": "35", "window_minutes": "120",
         "min_runs": "3", "environment": "cloud", "muted_until": "2099-01-02T03:04"},
    )  # fmt: skip

    rule.refresh_from_db()
    assert (rule.name, rule.threshold, rule.window_minutes, rule.min_runs) == (
        "Failing in cloud", 35, 120, 3,
    )  # fmt: skip
    assert rule.environment == "cloud" and not rule.channels.exists()
    assert rule.muted_until.isoformat() == "2099-01-02T03:04:00+00:00"


def test_a_bad_edit_changes_nothing(owner_client, project):
    rule = rule_create(project=project, kind="stalled", name="Hung", threshold="2")

    response = owner_client.post(
        f"/alerts/rules/{rule.pk}/", {"name": "Renamed", "threshold": "-1"}, follow=True
    )

    rule.refresh_from_db()
    assert (rule.name, rule.threshold) == ("Hung", 2)
    assert "Threshold: a number from 0 up." in response.content.decode()


def test_the_edit_page_is_for_editors_only(as_role, project):
    rule = rule_create(project=project, kind="stalled")

    assert as_role("support").get(f"/alerts/rules/{rule.pk}/").status_code == 403
    assert as_role("developer").get(f"/alerts/rules/{rule.pk}/").status_code == 200


def test_the_page_reads_the_same_number_of_queries_for_many_rules(
    owner_client, project, django_assert_max_num_queries
):
    def add(n: int) -> None:
        for i in range(n):
            channel, _ = channel_get_or_create(
                project=project, type_="email", target=f"o{i}-{Rule.objects.count()}@example.com"
            )
            rule = rule_create(project=project, kind="stalled", channels=[channel])
            incident = Incident.objects.create(
                project=project, rule=rule, title="t", summary="s", link="/runs/",
                opened_at=timezone.now(), last_firing_at=timezone.now(),
            )  # fmt: skip
            Delivery.objects.create(
                project=project, channel=channel, incident=incident, event="opened",
                payload={"title": "t"}, next_attempt_at=timezone.now(),
            )  # fmt: skip

    add(2)
    with CaptureQueriesContext(connection) as few:
        owner_client.get("/alerts/")
    add(20)

    with django_assert_max_num_queries(len(few)):
        html = owner_client.get("/alerts/").content.decode()
    assert html.count("<tr data-rule=") == 22


def test_the_admin_lists_alerts_without_showing_webhook_secrets(admin_client, project):
    channel, _ = channel_get_or_create(project=project, type_="webhook", target="https://x.test/h")
    rule_create(project=project, kind="stalled", channels=[channel])

    for model in ("rule", "channel", "incident", "delivery"):
        assert admin_client.get(f"/admin/alerts/{model}/").status_code == 200
    page = admin_client.get(f"/admin/alerts/channel/{channel.pk}/change/").content.decode()
    assert channel.secret not in page
