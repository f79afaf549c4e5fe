"""The tool usage rollup: `tool_usage_rollup_write` adds deltas into ToolUsageDaily,
and the pipeline keeps it equal to the runs' own counts."""

from datetime import date, timedelta

import pytest

from billing.models import ToolUsageDaily, ToolUsageHourly
from runs.ingest import tool_usage
from runs.ingest.tool_usage import tool_usage_rollup_write
from studio.sql import upsert_add
from tests.conftest import T0, apply_now, ev

NOV_20, NOV_21 = date(2026, 11, 20), date(2026, 11, 21)


def rollup(project) -> dict[tuple, int]:
    rows = ToolUsageDaily.objects.filter(project_id=project.id)
    return {(r.day, r.agent_name, r.tool): r.count for r in rows}


def test_a_delta_makes_rows_for_new_keys(project):
    tool_usage_rollup_write(project_id=project.id, delta={
        (NOV_20, "invoice-bot", "get_weather"): 3, (NOV_21, "invoice-bot", "search"): 1,
    })  # fmt: skip

    assert rollup(project) == {
        (NOV_20, "invoice-bot", "get_weather"): 3, (NOV_21, "invoice-bot", "search"): 1,
    }  # fmt: skip


def test_a_second_delta_adds_into_the_existing_rows(project):
    key = (NOV_20, "invoice-bot", "get_weather")
    tool_usage_rollup_write(project_id=project.id, delta={key: 3})
    tool_usage_rollup_write(project_id=project.id, delta={key: 4})
    assert rollup(project) == {key: 7}


def test_a_negative_delta_takes_uses_away_when_a_run_moves_agent(project):
    before, after = (NOV_20, "", "get_weather"), (NOV_20, "invoice-bot", "get_weather")
    tool_usage_rollup_write(project_id=project.id, delta={before: 2})

    tool_usage_rollup_write(project_id=project.id, delta={before: -2, after: 2})

    assert rollup(project) == {before: 0, after: 2}


def test_a_delta_and_its_opposite_leave_the_rollup_as_it_was(project):
    key = (NOV_20, "invoice-bot", "get_weather")
    tool_usage_rollup_write(project_id=project.id, delta={key: 5})
    for sign in (1, -1, 1, -1):
        tool_usage_rollup_write(project_id=project.id, delta={key: sign * 3})
    assert rollup(project) == {key: 5}


@pytest.fixture
def writes(monkeypatch):
    """What reaches `upsert_add` (the pipeline's cursor is psycopg's own, so Django's
    query capture does not see it)."""
    calls = []

    def record(table, keys, sums, rows):
        calls.append((table, keys, sums, rows))
        return upsert_add(table, keys, sums, rows)

    monkeypatch.setattr(tool_usage, "upsert_add", record)
    return calls


def test_zero_entries_are_skipped(project, writes):
    tool_usage_rollup_write(project_id=project.id, delta={
        (NOV_20, "a", "t"): 0, (NOV_20, "b", "t"): 1,
    })  # fmt: skip
    tool_usage_rollup_write(project_id=project.id, delta={(NOV_20, "a", "t"): 0})

    assert [rows for *_, rows in writes] == [[(project.id, NOV_20, "b", "t", 1)], []]
    assert rollup(project) == {(NOV_20, "b", "t"): 1}


def test_rows_go_in_key_order_in_one_statement_so_workers_lock_alike(project, writes):
    delta = {(NOV_21, "b", "x"): 1, (NOV_20, "b", "x"): 2, (NOV_20, "a", "y"): 3}

    tool_usage_rollup_write(project_id=project.id, delta=delta)

    ((table, keys, sums, rows),) = writes
    assert (table, keys, sums) == (
        "billing_toolusagedaily",
        ("project_id", "day", "agent_name", "tool"),
        ("count",),
    )
    assert [row[1:4] for row in rows] == sorted(delta)


def test_another_projects_rows_are_left_alone(project, other_project):
    key = (NOV_20, "invoice-bot", "get_weather")
    tool_usage_rollup_write(project_id=other_project.id, delta={key: 9})
    tool_usage_rollup_write(project_id=project.id, delta={key: 1})
    assert rollup(project) == {key: 1}
    assert rollup(other_project) == {key: 9}


# ── Through the pipeline ──────────────────────────────────────────────────────────


def test_tool_usage_events_count_on_the_day_the_run_started(project):
    apply_now(project, [
        ev("run_start", "r1", at=0, seq=0),
        ev("tool_usage", "r1", at=1, seq=1, tool="get_weather", count=2),
        ev("tool_usage", "r1", at=86_400, seq=2, tool="get_weather", count=1),  # next day
        ev("tool_usage", "r1", at=2, seq=3, tool="search", count=1),
    ])  # fmt: skip
    assert rollup(project) == {
        (NOV_20, "invoice-bot", "get_weather"): 3, (NOV_20, "invoice-bot", "search"): 1,
    }  # fmt: skip


def test_a_re_sent_tool_usage_event_is_not_counted_twice(project):
    events = [ev("run_start", "r1", at=0, seq=0),
              ev("tool_usage", "r1", at=1, seq=1, tool="get_weather", count=2)]  # fmt: skip
    apply_now(project, events)
    apply_now(project, events)
    assert rollup(project) == {(NOV_20, "invoice-bot", "get_weather"): 2}


def test_a_late_run_start_moves_the_runs_uses_to_its_agent_and_day(project):
    apply_now(project, [ev("tool_usage", "r1", at=86_400, seq=1, agent=None, tool="search",
                           count=2)])  # fmt: skip
    assert rollup(project) == {(NOV_21, "", "search"): 2}

    apply_now(project, [ev("run_start", "r1", at=0, seq=0, agent="invoice-bot")])

    assert rollup(project) == {(NOV_21, "", "search"): 0, (NOV_20, "invoice-bot", "search"): 2}


def hourly(project) -> dict[tuple, int]:
    rows = ToolUsageHourly.objects.filter(project_id=project.id).exclude(count=0)
    return {(r.hour, r.agent_name, r.environment, r.tool): r.count for r in rows}


def test_the_hourly_rollup_counts_on_the_runs_start_hour_and_moves_with_a_late_start(project):
    apply_now(project, [ev("tool_usage", "r1", at=7200, seq=1, agent=None, tool="search",
                           count=2)])  # fmt: skip
    assert hourly(project) == {(T0 + timedelta(hours=2), "", "cloud", "search"): 2}

    apply_now(project, [ev("run_start", "r1", at=0, seq=0, environment="local")])

    assert hourly(project) == {(T0, "invoice-bot", "local", "search"): 2}
    assert sum(hourly(project).values()) == sum(rollup(project).values())
