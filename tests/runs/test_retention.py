"""Per-project retention: a project keeping 7 days loses its raw events after 7 days
while one keeping 90 keeps the same day's; the day's partition goes only when no
project needs it; runs, calls, spans, errors and rollups stay; the run page and the
events API say what was removed; owners alone set it, and the audit log says so."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection
from django.forms.models import model_to_dict
from django.urls import reverse
from django.utils import timezone

from billing.models import RevenueDaily
from runs.maintenance import partitions_maintain
from runs.models import ErrorGroup, ErrorOccurrence, LlmCall, Run, ToolSpan, UsageDaily
from runs.partitions import existing_partitions
from runs.retention import CHUNK, partition_purge
from studio.models import AuditEntry
from studio.services import project_get_or_create
from tests.conftest import T0, apply_now, login
from tests.runs.test_views_run_detail import a_failed_run

DAYS_AGO = 30


def days_ago(events: list[dict], days: int) -> list[dict]:
    """The events moved to `days` days before today, from noon UTC (one day partition)."""
    noon = datetime.combine(timezone.now().date() - timedelta(days=days), time(12), tzinfo=UTC)
    shift = noon - T0
    for event in events:
        ts = datetime.fromisoformat(event["ts"].replace("Z", "+00:00")) + shift
        event["ts"] = ts.isoformat().replace("+00:00", "Z")
    return events


def event_count(project) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM runs_event WHERE project_id = %s", [project.id])
        return cursor.fetchone()[0]


def summaries(project) -> dict:
    """Everything kept whatever the retention, as plain values to compare."""
    tables = (Run, LlmCall, ToolSpan, ErrorOccurrence, UsageDaily, RevenueDaily)
    kept = {
        model.__name__: sorted(
            (
                model_to_dict(row, exclude=["search"])
                for row in model.objects.filter(project_id=project.id)
            ),
            key=repr,
        )
        for model in tables
    }
    kept["ErrorGroup"] = list(ErrorGroup.objects.filter(project_id=project.id).values())
    return kept


@pytest.fixture
def keeps_90(org):
    project = project_get_or_create(organization=org, name="Support agent")
    project.event_retention_days = 90
    project.save()
    return project


@pytest.fixture
def two_projects(project, keeps_90):
    """The run `run_1` 30 days ago in a project keeping 7 days and one keeping 90."""
    project.event_retention_days = 7
    project.save()
    for p in (project, keeps_90):
        apply_now(p, days_ago(a_failed_run(), DAYS_AGO))
    return project, keeps_90


def test_a_day_some_projects_still_need_loses_only_the_others_events(two_projects):
    short, long_ = two_projects
    day = timezone.now().date() - timedelta(days=DAYS_AGO)
    kept_short, kept_long = summaries(short), summaries(long_)
    events_long = event_count(long_)
    assert event_count(short) == events_long > 0
    assert kept_short["LlmCall"] and kept_short["ToolSpan"] and kept_short["ErrorOccurrence"]

    report = partitions_maintain()

    assert event_count(short) == 0
    assert event_count(long_) == events_long
    assert day in existing_partitions()
    assert report["events_deleted"] == events_long and day.isoformat() not in report["dropped"]
    assert summaries(short) == kept_short and summaries(long_) == kept_long
    short.refresh_from_db()
    long_.refresh_from_db()
    today = timezone.now().date()
    assert short.events_purged_before.date() == today - timedelta(days=7)
    assert long_.events_purged_before.date() == today - timedelta(days=90)


def test_the_partition_is_dropped_once_every_project_is_past_the_day(two_projects):
    _, long_ = two_projects
    day = timezone.now().date() - timedelta(days=DAYS_AGO)
    partitions_maintain()
    kept = summaries(long_)
    long_.event_retention_days = 20
    long_.save()

    report = partitions_maintain()

    assert day not in existing_partitions()
    assert day.isoformat() in report["dropped"]
    assert event_count(long_) == 0
    assert summaries(long_) == kept


def test_a_project_on_the_default_counts_as_the_default_when_days_are_dropped(
    project, keeps_90, settings
):
    settings.EVENT_RETENTION_DAYS = 40  # `project` keeps the default
    keeps_90.event_retention_days = 7
    keeps_90.save()
    apply_now(project, days_ago(a_failed_run(), DAYS_AGO))
    day = timezone.now().date() - timedelta(days=DAYS_AGO)

    partitions_maintain()
    assert day in existing_partitions() and event_count(project) > 0

    settings.EVENT_RETENTION_DAYS = 25
    partitions_maintain()
    assert day not in existing_partitions()


def test_late_events_landing_in_a_purged_day_are_purged_the_next_night(two_projects):
    short, _ = two_projects
    partitions_maintain()
    apply_now(short, days_ago(a_failed_run("run_late"), DAYS_AGO))
    assert event_count(short) > 0

    partitions_maintain()

    assert event_count(short) == 0


def test_a_purge_larger_than_a_chunk_deletes_every_row_in_chunks(project, keeps_90):
    day = timezone.now().date() - timedelta(days=DAYS_AGO)
    apply_now(project, days_ago(a_failed_run(), DAYS_AGO))
    start = datetime.combine(day, time(1), tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO runs_event (project_id, event_id, ts, run_pk, type, data) "
            "SELECT %s, 'bulk' || n, %s + n * interval '1 ms', 0, 'log', '{}' "
            "FROM generate_series(1, %s) n",
            [project.id, start, CHUNK * 2 + 5],
        )
    before = event_count(project)

    deleted = partition_purge(
        day, [project.id], before=datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)
    )

    assert deleted == before > CHUNK * 2
    assert event_count(project) == 0


def test_the_run_page_and_the_events_api_say_the_events_were_removed(two_projects, owner, api):
    partitions_maintain()

    page = login(owner).get(reverse("runs:detail", args=["run_1"]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Events older than 7 days" in html and "summaries are kept" in html
    assert "data-events-purged" in html
    assert "charge" in html  # the failed tool call is still on the timeline
    logs = login(owner).get(reverse("runs:detail", args=["run_1"]) + "?tab=logs")
    assert "No log lines kept" in logs.content.decode()

    body = api.get("/api/v1/runs/run_1/events").json()
    assert body["events"] == []
    expected = (timezone.now().date() - timedelta(days=7)).isoformat()
    assert body["events_purged_before"] == f"{expected}T00:00:00Z"


def test_a_run_whose_events_are_kept_shows_no_note(two_projects, owner):
    _, long_ = two_projects
    partitions_maintain()
    client = login(owner)
    client.post(reverse("switch"), {"project": long_.id})

    html = client.get(reverse("runs:detail", args=["run_1"])).content.decode()

    assert "data-events-purged" not in html
    assert "stripe key missing" in client.get("/runs/run_1/?tab=logs").content.decode()


def test_an_owner_sets_the_retention_and_the_audit_log_records_it(project, owner):
    client = login(owner)

    response = client.post("/settings/retention/", {"days": "7"}, follow=True)

    project.refresh_from_db()
    assert project.event_retention_days == 7
    assert "keeps raw events 7 days" in response.content.decode()
    entry = AuditEntry.objects.get(action="project.retention_changed")
    assert entry.actor == owner and entry.target == f"project {project.slug}"
    assert entry.details == {"from": "default", "to": 7}
    assert 'value="7"' in client.get("/settings/").content.decode()

    client.post("/settings/retention/", {"days": ""})
    project.refresh_from_db()
    assert project.event_retention_days is None
    assert AuditEntry.objects.filter(action="project.retention_changed").count() == 2


@pytest.mark.parametrize("days", ["0", "3651", "seven", "7.5", "-3"])
def test_a_retention_out_of_bounds_is_refused_with_the_reason(project, owner, days):
    project.event_retention_days = 30
    project.save()

    response = login(owner).post("/settings/retention/", {"days": days}, follow=True)

    assert "from 1 to 3650" in response.content.decode()
    project.refresh_from_db()
    assert project.event_retention_days == 30
    assert not AuditEntry.objects.filter(action="project.retention_changed").exists()


@pytest.mark.parametrize("role", ["developer", "support", "finance", "viewer"])
def test_only_owners_change_the_retention(project, make_member, role):
    client = login(make_member(role))

    assert client.post("/settings/retention/", {"days": "7"}).status_code == 403

    project.refresh_from_db()
    assert project.event_retention_days is None
    assert "Owners change this" in client.get("/settings/").content.decode()
