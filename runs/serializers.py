"""Runs as JSON for the API: plain dicts, Decimal money as strings."""

import base64
import binascii
import json
from datetime import datetime
from decimal import Decimal

from django.db.models.functions import Coalesce

from runs.ingest.runstate import status_change
from runs.models import LlmCall, Run, ToolSpan
from runs.protocol import Event
from runs.retention import events_purged_note
from runs.selectors.events import run_events
from runs.selectors.runs import FilterError
from runs.spans import span_state
from runs.tokens import call_summary, tokens_from_json

STATUS_TYPES = ("run_start", "status", "run_end", "error", "process_exit", "stream_end")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _decimal(value: Decimal) -> str:
    # Plain digits: str() gives "0E-10" for a zero read from a numeric(20, 10) column.
    return format(value, "f")


def run_summary(run: Run) -> dict:
    return {
        "run_id": run.run_id,
        "agent": {"name": run.agent_name, "version": run.agent_version},
        "environment": run.environment,
        "status": run.status,
        "status_message": run.status_message,
        "stalled": run.stalled,
        "started_at": _iso(run.started_at),
        "ended_at": _iso(run.ended_at),
        "last_event_at": _iso(run.last_event_at),
        "duration_ms": run.duration_ms,
        "events": run.event_count,
        "tool_calls": run.tool_calls,
        "tool_errors": run.tool_errors,
        "llm_calls": run.llm_calls,
        "tokens": {
            "streamed": run.token_count,
            "input": run.input_tokens,
            "output": run.output_tokens,
            "cache_read": run.cache_read_tokens,
            "cache_write": run.cache_write_tokens,
        },
        "cost": {
            "amount": _decimal(run.cost),
            "currency": "USD",
            "unpriced_calls": run.unpriced_calls,
        },
        "revenue": run.revenue,
        "error": (
            {"type": run.error_type, "message": run.error_message} if run.error_type else None
        ),
        "exit_code": run.exit_code,
        "thread_id": run.thread_id or None,
        "tool_usage": run.tool_usage,
    }


def run_full(run: Run) -> dict:
    """A run with its inputs, outputs, status history, tool spans, LLM calls and errors."""
    return {
        **run_summary(run),
        "inputs": run.inputs,
        "outputs": run.outputs,
        "runtime": run.runtime,
        "config": run.config,
        "output_format": run.output_format or None,
        "next_step": run.next_step or None,
        "state": run.state["value"] if run.state else None,
        "artifacts": [
            {"name": a["name"], "url": a.get("url"), "mime": a.get("mime"), "ts": a["ts"]}
            for a in run.artifacts
        ],
        "status_history": status_history(run),
        "tool_spans": [
            _span(s, run.status_terminal)
            for s in ToolSpan.objects.filter(run=run).order_by("started_at", "span_key")
        ],
        "llm_calls": [
            _call(c)
            for c in LlmCall.objects.filter(run=run).order_by(
                Coalesce("first_token_at", "started_at", "usage_at"), "call_id"
            )
        ],
        "errors": [
            {
                "type": o.group.error_type,
                "title": o.group.title,
                "group_fingerprint": o.group.fingerprint,
                "ts": _iso(o.ts),
                "event_id": o.event_id,
            }
            for o in run.error_occurrences.select_related("group").order_by("ts")
        ],
    }


def status_history(run: Run) -> list[dict]:
    rows = run_events(run, types=list(STATUS_TYPES), after=None, limit=1000)
    history = []
    for event_id, ts, seq, type_, data in rows:
        status, message = status_change(
            Event(event_id, run.run_id, type_, ts, seq, None, None, data)
        )
        history.append(
            {
                "status": status,
                "message": message,
                "ts": _iso(ts),
                "event_id": event_id,
                "type": type_,
            }
        )
    return history


def _span(span: ToolSpan, run_ended: bool) -> dict:
    duration = (
        round((span.ended_at - span.started_at).total_seconds() * 1000)
        if span.started_at and span.ended_at
        else None
    )
    return {
        "span_key": span.span_key,
        "tool_name": span.tool_name,
        "status": span_state(span, run_ended),
        "started_at": _iso(span.started_at),
        "ended_at": _iso(span.ended_at),
        "duration_ms": duration,
        "input_str": span.input_str,
        "output": span.output,
        "error": span.error,
        "attributes": span.attributes or {},
    }


def _call(call: LlmCall) -> dict:
    summary = call_summary(tokens_from_json(call.tokens)) if call.tokens else None
    attributes = dict(call.details or {})
    error = attributes.pop("error", None)
    return {
        "call_id": call.call_id,
        "model": call.model,
        "token_count": call.token_count,
        "started_at": _iso(call.started_at),
        "ended_at": _iso(call.ended_at),
        "first_token_at": _iso(call.first_token_at),
        "last_token_at": _iso(call.last_token_at),
        "tokens_per_second": round(summary.tokens_per_second, 2)
        if summary and summary.tokens_per_second
        else None,
        "stalls": [{"after_index": s.after_index, "gap_ms": s.gap_ms} for s in summary.stalls]
        if summary
        else [],
        "input": call.prompt,
        "text": call.text,
        "error": error,
        "attributes": attributes,
        "usage": {
            "input_tokens": call.input_tokens,
            "output_tokens": call.output_tokens,
            "cache_read_tokens": call.cache_read_tokens,
            "cache_write_tokens": call.cache_write_tokens,
        },
        "cost": _decimal(call.cost) if call.cost is not None else None,
        "priced": call.cost is not None,
    }


def events_page(run: Run, *, types: list[str], cursor: str | None, limit: int) -> dict:
    """The run's stored events in order (ts, seq, event_id), by keyset."""
    after = _decode_cursor(cursor) if cursor else None
    rows = run_events(run, types=types or None, after=after, limit=limit + 1)
    events = [
        {
            "event_id": event_id,
            "run_id": run.run_id,
            "seq": seq,
            "ts": _iso(ts),
            "type": type_,
            **({"agent": data.pop("_agent")} if "_agent" in data else {}),
            "data": data,
        }
        for event_id, ts, seq, type_, data in rows[:limit]
    ]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        raw = json.dumps([last[1].isoformat(), last[2] if last[2] is not None else -1, last[0]])
        next_cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    purged = events_purged_note(run)
    return {
        "events": events,
        "next_cursor": next_cursor,
        # Retention removed the run's events before this time: the list is not all of it.
        "events_purged_before": _iso(purged["before"]) if purged else None,
    }


def _decode_cursor(cursor: str) -> tuple:
    try:
        ts, seq, event_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(ts), int(seq), str(event_id)
    except (ValueError, TypeError, binascii.Error):
        raise FilterError(
            "cursor: not a cursor this list gave out; start again without it"
        ) from None
