"""Two organizations, Acme and Globex, each with one of everything a URL can name
(a run, an error group, share links, alert rules, a channel, API keys, prices, a
failed batch), and a signed-in user for every role; for the access tests.

`world_fixture` (tests/studio/conftest.py's `world`) builds it once per test module,
inside a transaction rolled back at the end: each test, in its own savepoint, sees
the same world."""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client, override_settings
from django.utils import timezone

from alerts.deliveries import delivery_test_create
from alerts.models import Channel, Delivery, Rule
from alerts.services import channel_get_or_create, rule_create
from billing.models import ModelPrice, ToolPrice
from billing.prices import default_prices_create
from billing.services import PriceData, ToolPriceData, price_create, tool_price_create
from runs.models import IngestBatch, ValidationReport
from shares.models import ShareLink
from shares.services import sharelink_create, sharelink_revoke
from studio.apikeys import apikey_create, apikey_revoke
from studio.models import ApiKey, AuditEntry, Membership, Organization, Project
from studio.services import member_set, organization_get_or_create, project_get_or_create
from tests.conftest import PASSWORD, apply_now
from tests.runs.test_views_run_detail import a_failed_run

ROLES = ("owner", "developer", "support", "finance", "viewer")
# Text in Acme's names, agents, errors and targets: no page or answer to someone
# outside Acme may contain it.
MARKER = "acmesecret"
# The path of a webhook channel's URL: for members who edit alerts only.
WEBHOOK_PATH = "services/T0/B0/hooksecretpath"
# The run's charge: finance data, for the roles that see revenue only.
REVENUE_AMOUNT = "4321.09"
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Org:
    org: Organization
    project: Project
    second_project: Project  # the same organization's other project
    ids: dict = field(default_factory=dict)  # what the URLs of the tables name
    keys: dict = field(default_factory=dict)  # raw API keys by kind


@dataclass
class World:
    acme: Org
    globex: Org
    sessions: dict  # session key by who: each role in Acme, "outsider", "stranger"

    def client(self, who: str, **kwargs) -> Client:
        """A fresh client, signed in as `who` ("anonymous": not signed in)."""
        client = Client(**kwargs)
        if who != "anonymous":
            client.cookies[settings.SESSION_COOKIE_NAME] = self.sessions[who]
        return client


def _org(name: str, slug: str, people: dict) -> Org:
    org = organization_get_or_create(name=name)
    secret = f"{slug}secret"  # MARKER in Acme
    project = project_get_or_create(organization=org, name=f"{slug} bot {secret}")
    second = project_get_or_create(organization=org, name=f"{slug} second")
    run_id = f"{slug}-run-1"
    events = a_failed_run(run_id)
    for event in events:
        event["agent"]["name"] = f"{slug}-{secret}-agent"
        if event["type"] == "revenue":
            event["data"]["amount"] = REVENUE_AMOUNT
    apply_now(project, events)
    owner, developer = people["owner"], people["developer"]
    channel, _ = channel_get_or_create(
        project=project, type_=Channel.Type.EMAIL, target=f"ops-{slug}-{secret}@example.com"
    )
    # A webhook's path is its credential; port 9 refuses at once, so a test send fails fast.
    webhook, _ = channel_get_or_create(
        project=project, type_=Channel.Type.WEBHOOK, target=f"http://127.0.0.1:9/{WEBHOOK_PATH}"
    )
    delivery_test_create(channel=webhook, user_name=owner.username)
    rule = rule_create(
        project=project,
        kind="failure_rate",
        channels=[channel, webhook],
        name=f"{slug} {secret} rule",
    )
    Rule.objects.filter(pk=rule.pk).update(muted_until=timezone.now() + timedelta(days=3))
    refunds = rule_create(project=project, kind="refunds", name=f"{slug} {secret} refunds")
    from runs.models import Run

    run = Run.objects.get(project=project, run_id=run_id)
    link, token = sharelink_create(run=run, created_by=developer)
    dead, dead_token = sharelink_create(run=run, created_by=developer)
    sharelink_revoke(link=dead, actor=owner)
    keys = {
        "right": apikey_create(project=project, scopes=["ingest", "read"], name=secret)[1],
        "read_only": apikey_create(project=project, scopes=["read"])[1],
        "ingest_only": apikey_create(project=project, scopes=["ingest"])[1],
        "other_project": apikey_create(project=second, scopes=["ingest", "read"])[1],
    }
    revoked, keys["revoked"] = apikey_create(project=project, scopes=["ingest", "read"])
    apikey_revoke(key=revoked)
    to_revoke, _ = apikey_create(project=project, scopes=["read"], name=f"{secret} to revoke")
    price = price_create(
        organization=org,
        data=PriceData(
            model_pattern=f"{slug}-{secret}-model",
            match="exact",
            effective_from=date(2026, 1, 1),
            input_per_m=Decimal("1"),
            output_per_m=Decimal("2"),
        ),
    )
    tool_price = tool_price_create(
        organization=org,
        data=ToolPriceData(
            tool=f"{slug}-{secret}-tool",
            unit_price=Decimal("0.01"),
            currency="USD",
            effective_from=date(2026, 1, 1),
        ),
    )
    batch = IngestBatch.objects.create(
        project=project, status=IngestBatch.Status.FAILED, payload="[]", last_error="boom"
    )
    viewer = Membership.objects.get(organization=org, user=people["viewer"])
    return Org(
        org=org,
        project=project,
        second_project=second,
        ids={
            "run": run_id,
            "group": run.error_group_id,
            "share": link.pk,
            "token": token,
            "revoked_token": dead_token,
            "rule": rule.pk,
            "refunds_rule": refunds.pk,
            "channel": channel.pk,
            "key": to_revoke.pk,
            "price": price.pk,
            "tool_price": tool_price.pk,
            "batch": batch.pk,
            "membership": viewer.pk,
            "second_project": second.pk,
        },
        keys=keys,
    )


def _people(org_name: str, prefix: str) -> dict:
    org = organization_get_or_create(name=org_name)
    return {
        role: member_set(
            organization=org, username=f"{prefix}-{role}", role=role, password=PASSWORD
        ).user
        for role in ROLES
    }


def _session(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def build_world() -> World:
    default_prices_create()
    acme_people = _people("Acme", "acme")
    globex_people = _people("Globex", "globex")
    stranger = get_user_model().objects.create_user("stranger", password=PASSWORD)
    world = World(
        acme=_org("Acme", "acme", acme_people),
        globex=_org("Globex", "globex", globex_people),
        sessions={role: _session(user) for role, user in acme_people.items()},
    )
    world.sessions["outsider"] = _session(globex_people["owner"])
    world.sessions["stranger"] = _session(stranger)
    return world


def world_fixture(django_db_setup, django_db_blocker):
    """A module-scoped fixture body: the world, rolled back after the module."""
    from studio.celery import app

    queue, app.conf.task_default_queue = app.conf.task_default_queue, "studio-test-access"
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            # The tests check passwords with the fast hasher conftest sets for each test.
            with override_settings(PASSWORD_HASHERS=FAST_HASHERS):
                built = build_world()
            yield built
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            from studio.redis import redis_client

            redis_client().delete("studio-test-access")  # batch retries sent no worker
            app.conf.task_default_queue = queue


def acme_state(acme: Org, project: Project | None = None) -> list:
    """Every row a form or an API call could change in Acme (in all its projects, or
    in `project`'s), for before/after checks (less what a mere read touches: a key's
    last use, a share link's views)."""
    org = acme.org
    in_org = {"project": project} if project else {"project__organization": org}
    queries = [
        (ApiKey.objects.filter(**in_org), {"last_used_at"}),
        (Membership.objects.filter(organization=org), set()),
        (Project.objects.filter(organization=org), set()),
        (Rule.objects.filter(**in_org), set()),
        (Channel.objects.filter(**in_org), set()),
        (Delivery.objects.filter(**in_org), set()),
        (ShareLink.objects.filter(**in_org), {"view_count", "last_viewed_at"}),
        (ModelPrice.objects.filter(organization=org), set()),
        (ToolPrice.objects.filter(organization=org), set()),
        (IngestBatch.objects.filter(**in_org), set()),
        (ValidationReport.objects.filter(**in_org), set()),
        (AuditEntry.objects.filter(organization=org), set()),
    ]
    state = []
    for query, volatile in queries:
        fields = [f.attname for f in query.model._meta.concrete_fields if f.name not in volatile]
        state.append(list(query.order_by("pk").values_list(*fields)))
    return state
