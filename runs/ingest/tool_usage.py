"""Billable tool uses (Charm's `tool_usage`): the daily and hourly rollups the worker
keeps."""

from datetime import date, datetime

from studio.sql import upsert_add


def tool_usage_rollup_write(
    *,
    project_id: int,
    delta: dict[tuple[date, str, str], int],
    hourly: dict[tuple[datetime, str, str, str], int] | None = None,
) -> None:
    """Add `delta` ((day, agent_name, tool) -> uses; negative when a run moved agent)
    into ToolUsageDaily, and `hourly` ((hour, agent_name, environment, tool) -> uses)
    into ToolUsageHourly, rows in key order so workers lock them in one order."""
    rows = [(project_id, *key, count) for key, count in sorted(delta.items()) if count]
    upsert_add(
        "billing_toolusagedaily", ("project_id", "day", "agent_name", "tool"), ("count",), rows
    )
    if hourly is None:
        return
    rows = [(project_id, *key, count) for key, count in sorted(hourly.items()) if count]
    upsert_add(
        "billing_toolusagehourly",
        ("project_id", "hour", "agent_name", "environment", "tool"),
        ("count",),
        rows,
    )
