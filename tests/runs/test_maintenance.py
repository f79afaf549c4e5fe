"""Periodic upkeep: hung runs are flagged, partitions made ahead and dropped by age."""

from datetime import timedelta

from django.utils import timezone

from runs.maintenance import partitions_maintain, runs_flag_stalled
from runs.models import Run
from runs.partitions import existing_partitions
from tests.conftest import apply_now, ev


def recent(type_: str, run_id: str, minutes_ago: float, **data) -> dict:
    event = ev(type_, run_id, **data)
    event["ts"] = (timezone.now() - timedelta(minutes=minutes_ago)).isoformat()
    return event


def test_a_running_run_silent_past_its_stall_time_is_flagged_stalled(project):
    project.stall_after_seconds = 600
    project.save()
    apply_now(project, [recent("run_start", "hung", 30), recent("run_start", "busy", 1)])
    apply_now(project, [recent("run_start", "done", 30), recent("run_end", "done", 29)])

    assert runs_flag_stalled() == 1

    assert list(Run.objects.filter(stalled=True).values_list("run_id", flat=True)) == ["hung"]


def test_a_stalled_run_that_speaks_again_is_no_longer_stalled(project):
    apply_now(project, [recent("run_start", "hung", 30)])
    runs_flag_stalled()

    apply_now(project, [recent("log", "hung", 0, message="still alive")])

    assert Run.objects.get(run_id="hung").stalled is False


def test_partitions_are_made_ahead_and_old_days_are_dropped(project, settings):
    settings.EVENT_RETENTION_DAYS = 30
    old = ev("log", "old", message="from long ago")
    old["ts"] = (timezone.now() - timedelta(days=40)).isoformat()
    apply_now(project, [old])
    old_day = (timezone.now() - timedelta(days=40)).date()
    assert old_day in existing_partitions()

    report = partitions_maintain()

    days = existing_partitions()
    today = timezone.now().date()
    assert old_day not in days
    assert old_day.isoformat() in report["dropped"]
    assert {today + timedelta(days=n) for n in range(8)} <= set(days)
