"""Tool spans in the database: rebuilt per (run, tool name) from the stored events.

Pairing without span ids depends on every event of that tool in the run, so the
spans of a tool are replaced, not patched, whenever one of its events arrives.
"""

import json

from django.db import connection

from runs.models import Run, ToolSpan
from runs.protocol import Event
from runs.spans import ToolEvent, pair_tool_events

TOOL_TYPES = ("tool_start", "tool_end", "tool_error")


def spans_apply(*, run: Run, events: list[Event]) -> None:
    """Rebuild the spans of every tool that has new events in this run."""
    names = sorted({e.data["tool_name"] for e in events if e.type in TOOL_TYPES})
    if not names:
        return
    stored = _tool_events(run, names)
    spans = pair_tool_events(stored)
    ToolSpan.objects.filter(run=run, tool_name__in=names).delete()
    ToolSpan.objects.bulk_create(
        ToolSpan(
            project_id=run.project_id,
            run=run,
            span_key=span.span_key,
            explicit=span.explicit,
            tool_name=span.tool_name,
            status=span.status,
            started_at=span.started_at,
            ended_at=span.ended_at,
            input_str=span.input_str or "",
            output=span.output,
            error=span.error,
            start_event_id=span.start_event_id or "",
            end_event_id=span.end_event_id or "",
        )
        for span in spans
    )


def _tool_events(run: Run, names: list[str]) -> list[ToolEvent]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT event_id, ts, seq, type, data FROM runs_event
            WHERE project_id = %s AND run_pk = %s AND ts BETWEEN %s AND %s
              AND type = ANY(%s) AND data->>'tool_name' = ANY(%s)
            """,
            [
                run.project_id,
                run.pk,
                run.first_event_at,
                run.last_event_at,
                list(TOOL_TYPES),
                names,
            ],
        )
        rows = cursor.fetchall()
    return [_tool_event(*row) for row in rows]


def _tool_event(event_id: str, ts, seq: int | None, type_: str, data) -> ToolEvent:
    if isinstance(data, str):
        data = json.loads(data)
    return ToolEvent(
        type=type_,
        tool_name=data["tool_name"],
        span_id=data.get("span_id"),
        ts=ts,
        seq=seq,
        event_id=event_id,
        payload=data,
    )
