"""Billable tool uses (Charm's `tool_usage`): the daily rollup the worker keeps."""

from datetime import date

from studio.sql import upsert_add


def tool_usage_rollup_write(*, project_id: int, delta: dict[tuple[date, str, str], int]) -> None:
    """Add `delta` ((day, agent_name, tool) -> uses; negative when a run moved agent)
    into ToolUsageDaily, rows in key order so workers lock them in one order."""
    rows = [(project_id, *key, count) for key, count in sorted(delta.items()) if count]
    upsert_add(
        "billing_toolusagedaily", ("project_id", "day", "agent_name", "tool"), ("count",), rows
    )
