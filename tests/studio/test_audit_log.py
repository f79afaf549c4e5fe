"""The audit log records, through the real pages, who created and revoked API keys,
added, removed or re-roled members, changed prices, and changed alert rules and
channels; owners read it in Settings, and each organization sees only its own."""

import re

import pytest

from alerts.models import Channel, Rule
from billing.models import ModelPrice, ToolPrice
from studio.models import ApiKey, AuditEntry, Membership
from tests.billing.test_views_billing import new_price
from tests.billing.test_views_tool_prices import tool_price

pytestmark = pytest.mark.django_db


def entries(org, action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(organization=org, action=action).order_by("id"))


def only(org, action: str) -> AuditEntry:
    found = entries(org, action)
    assert len(found) == 1, [(e.action, e.target) for e in found]
    return found[0]


# ── API keys ──────────────────────────────────────────────────────────────────────


def test_creating_a_key_is_recorded_without_its_secret(owner_client, owner, org, project):
    response = owner_client.post(
        "/settings/keys/", {"name": "ci", "scopes": ["ingest", "read"]}, follow=True
    )

    key = ApiKey.objects.get(project=project, name="ci")
    entry = only(org, "api_key.created")
    assert entry.actor == owner
    assert entry.target == f"key {key.prefix}… of project {project.slug}"
    assert entry.details == {"name": "ci", "scopes": "ingest read"}
    raw_key = re.search(r"chs_[\w-]{20,}", response.content.decode()).group()  # shown once
    assert raw_key.startswith(key.prefix)
    assert raw_key not in str(entry.details) + entry.target


def test_a_refused_key_is_not_recorded(owner_client, org):
    owner_client.post("/settings/keys/", {"name": "bad", "scopes": ["admin"]})

    assert not entries(org, "api_key.created")


def test_revoking_a_key_is_recorded_once(owner_client, owner, org, project, ingest_key):
    key = ApiKey.objects.get(project=project)

    owner_client.post(f"/settings/keys/{key.pk}/revoke/")
    owner_client.post(f"/settings/keys/{key.pk}/revoke/")  # already revoked: nothing new

    entry = only(org, "api_key.revoked")
    assert entry.actor == owner and key.prefix in entry.target


# ── Members ───────────────────────────────────────────────────────────────────────


def test_adding_re_roling_and_removing_a_member_are_recorded(owner_client, owner, org):
    owner_client.post(
        "/settings/members/", {"username": "dana", "role": "viewer", "password": "a-fine-pass-91"}
    )
    owner_client.post("/settings/members/", {"username": "dana", "role": "developer"})
    owner_client.post("/settings/members/", {"username": "dana", "role": "developer"})  # same
    dana = Membership.objects.get(organization=org, user__username="dana")
    owner_client.post(f"/settings/members/{dana.pk}/delete/")

    actions = [
        (e.action, e.target, e.details, e.actor)
        for e in AuditEntry.objects.filter(organization=org, action__startswith="member.").order_by(
            "id"
        )
    ]
    assert actions == [
        ("member.added", "user dana", {"role": "viewer"}, owner),
        ("member.role_changed", "user dana", {"from": "viewer", "to": "developer"}, owner),
        ("member.removed", "user dana", {"role": "developer"}, owner),
    ]
    assert "a-fine-pass-91" not in str(actions)


def test_a_refused_member_change_is_not_recorded(owner_client, owner, org):
    owner_client.post("/settings/members/", {"username": "dana", "role": "emperor"})
    owner_member = Membership.objects.get(organization=org, user=owner)
    owner_client.post(f"/settings/members/{owner_member.pk}/delete/")  # the last owner

    assert not AuditEntry.objects.filter(organization=org, action__startswith="member.").exists()
    assert Membership.objects.filter(pk=owner_member.pk).exists()


# ── Prices ────────────────────────────────────────────────────────────────────────


def test_adding_and_editing_a_model_price_records_the_old_and_new_values(owner_client, owner, org):
    owner_client.post("/settings/prices/", new_price("in-house-7b"))
    price = ModelPrice.objects.get(organization=org)
    owner_client.post(f"/settings/prices/{price.pk}/", new_price("in-house-7b") | {
        "input_per_m": "0.25"})  # fmt: skip

    added = only(org, "price.added")
    assert added.actor == owner and added.target == "model price in-house-7b"
    assert added.details["input_per_m"] == "0.1"
    assert added.details["effective_from"] == "2026-11-01"
    changed = only(org, "price.changed")
    assert changed.details == {"input_per_m": "0.1 → 0.25"}


def test_saving_a_price_unchanged_or_refused_records_nothing(owner_client, org):
    owner_client.post("/settings/prices/", new_price("in-house-7b"))
    price = ModelPrice.objects.get(organization=org)

    owner_client.post(f"/settings/prices/{price.pk}/", new_price("in-house-7b"))
    owner_client.post("/settings/prices/", new_price("x") | {"input_per_m": "-1"})

    assert not entries(org, "price.changed")
    assert len(entries(org, "price.added")) == 1


def test_adding_and_deleting_a_tool_price_are_recorded(owner_client, owner, org):
    owner_client.post("/settings/prices/", tool_price())
    row = ToolPrice.objects.get(organization=org)
    owner_client.post(f"/settings/prices/tools/{row.pk}/delete/")

    details = {"unit_price": "0.002 USD", "effective_from": "2026-11-01"}
    added, deleted = only(org, "tool_price.added"), only(org, "tool_price.deleted")
    assert (added.target, added.details, added.actor) == ("tool price get_weather", details, owner)
    assert (deleted.target, deleted.details) == ("tool price get_weather", details)


# ── Alerts ────────────────────────────────────────────────────────────────────────


def test_alert_rule_changes_are_recorded(owner_client, owner, org, project):
    owner_client.post(
        "/alerts/rules/", {"kind": "failure_rate", "name": "Invoices failing", "threshold": "25"}
    )
    rule = Rule.objects.get(project=project)
    owner_client.post(f"/alerts/rules/{rule.pk}/", {"name": "Invoices failing", "threshold": "30"})
    owner_client.post(f"/alerts/rules/{rule.pk}/mute/", {"for": "4h"})
    owner_client.post(f"/alerts/rules/{rule.pk}/unmute/")
    owner_client.post(f"/alerts/rules/{rule.pk}/toggle/")
    owner_client.post(f"/alerts/rules/{rule.pk}/delete/")

    rows = AuditEntry.objects.filter(organization=org, action__startswith="alert_rule.")
    assert [e.action for e in rows.order_by("id")] == [
        "alert_rule.created", "alert_rule.changed", "alert_rule.muted",
        "alert_rule.unmuted", "alert_rule.turned_off", "alert_rule.deleted",
    ]  # fmt: skip
    assert {e.target for e in rows} == {"alert rule Invoices failing"}
    assert {e.actor for e in rows} == {owner}
    assert only(org, "alert_rule.muted").details["until"].endswith(" UTC")


def test_a_webhook_channel_is_recorded_by_host_only(owner_client, org, project):
    url = "https://hooks.example.com/services/T000/B000/s3cr3tpath"
    owner_client.post("/alerts/channels/", {"type": "webhook", "target": url})
    channel = Channel.objects.get(project=project)
    owner_client.post(f"/alerts/channels/{channel.pk}/delete/")

    added, removed = only(org, "alert_channel.added"), only(org, "alert_channel.removed")
    assert added.target == removed.target == "webhook channel hooks.example.com"
    assert "s3cr3tpath" not in str(added.details) + str(removed.details)


# ── Shown in Settings ─────────────────────────────────────────────────────────────


def test_owners_read_the_entries_in_settings_and_another_org_sees_none(
    owner_client, org, other_org, outsider, make_member
):
    owner_client.post("/settings/keys/", {"name": "ci", "scopes": ["ingest"]})
    owner_client.post("/settings/members/", {"username": "dana", "role": "viewer"})
    owner_client.post("/settings/prices/", new_price("in-house-7b"))

    page = owner_client.get("/settings/").content.decode()
    for action in ("api_key.created", "member.added", "price.added"):
        assert f'data-audit="{action}"' in page
    assert not AuditEntry.objects.filter(organization=other_org).exists()

    from tests.conftest import login

    assert 'data-audit="' not in login(outsider).get("/settings/").content.decode()
    assert 'id="audit"' not in login(make_member("developer")).get("/settings/").content.decode()
