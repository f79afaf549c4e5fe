"""Tool spans in the database: rebuilt per (run, tool name) from the stored events.

Pairing without span ids depends on every event of that tool in the run, so the
spans of a tool are replaced, not patched, whenever one of its events arrives.
"""

import json

from django.db import connection

from runs.models import Run, ToolSpan
from runs.protocol import Event
from runs.selectors.events import RUNS_EVENTS, runs_bounds
from runs.spans import ToolEvent, pair_tool_events
from studio.sql import insert_rows

TOOL_TYPES = ("tool_start", "tool_end", "tool_error")


def spans_apply(
    *, project_id: int, runs: list[Run], events: dict[str, list[Event]], created: set[str]
) -> None:
    """Rebuild the spans of every (run, tool) that has new events, in four queries.
    A run `created` by this batch has no other events: its new ones are not read back."""
    touched = {
        (run.pk, e.data["tool_name"])
        for run in runs
        for e in events.get(run.run_id, ())
        if e.type in TOOL_TYPES
    }
    if not touched:
        return
    runs_by_pk = {run.pk: run for run in runs}
    stored: dict[tuple[int, str], list[ToolEvent]] = {key: [] for key in touched}
    older = {pk for pk, _ in touched if runs_by_pk[pk].run_id not in created}
    for run_pk, tool_event in _tool_events(project_id, [runs_by_pk[pk] for pk in older]):
        key = (run_pk, tool_event.tool_name)
        if key in stored:
            stored[key].append(tool_event)
    for run in runs:
        if run.run_id in created:
            for event in events.get(run.run_id, ()):
                if event.type in TOOL_TYPES:
                    stored[(run.pk, event.data["tool_name"])].append(_new_tool_event(event))
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM runs_toolspan WHERE (run_id, tool_name) IN "
            "(SELECT * FROM unnest(%s::bigint[], %s::text[]))",
            [[pk for pk, _ in touched], [name for _, name in touched]],
        )
    insert_rows(
        ToolSpan,
        [
            _span_row(project_id, run_pk, span)
            for (run_pk, _), tool_events in sorted(stored.items())
            for span in pair_tool_events(tool_events)
        ],
    )


def _span_row(project_id: int, run_pk: int, span) -> dict:
    return {
        "project_id": project_id,
        "run_id": run_pk,
        "span_key": span.span_key,
        "explicit": span.explicit,
        "tool_name": span.tool_name,
        "status": span.status,
        "started_at": span.started_at,
        "ended_at": span.ended_at,
        "input_str": span.input_str or "",
        "output": span.output,
        "error": span.error,
        "start_event_id": span.start_event_id or "",
        "end_event_id": span.end_event_id or "",
        "attributes": span.attributes,
    }


def _tool_events(project_id: int, runs: list[Run]) -> list[tuple[int, ToolEvent]]:
    """Every stored tool event of these runs, bounded by their event times so PostgreSQL
    reads only their days' partitions."""
    if not runs:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT run_pk, event_id, ts, seq, type, data FROM runs_event"
            f" WHERE {RUNS_EVENTS} AND type = ANY(%(types)s)",
            {**runs_bounds(project_id, runs), "types": list(TOOL_TYPES)},
        )
        rows = cursor.fetchall()
    return [(row[0], _tool_event(*row[1:])) for row in rows]


def _new_tool_event(event: Event) -> ToolEvent:
    return _tool_event(event.event_id, event.ts, event.seq, event.type, event.data)


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
