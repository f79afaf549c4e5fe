"""Pairing a run's tool events into spans: one span per tool call.

Pure Python: no Django, no database. ``pair_tool_events`` takes every tool event of
a run and returns its spans; the result depends only on the set of events, never on
the order they arrived in or how often one was re-sent.

Pairing rules:

- events with a ``span_id`` pair by it: the span's start is its earliest
  ``tool_start``, its end the earliest ``tool_end``/``tool_error``; later ones with
  the same span_id are ignored;
- events without one pair in order per tool name: the k-th end (or error) closes the
  earliest start of that tool that is still open, since the SDK's tool hooks carry no
  id. An end with no open start before it becomes a span whose start is unknown.

Events are taken in the order ``(ts, seq, event_id)``, a missing seq counting as -1.

Span keys are stable names for the database: the span_id; else ``"search#k"`` for
the k-th start of tool "search" without a span_id (from 1); else
``"search#end-k"`` for the k-th end of "search" that had no start. A late start
stamped before the others renumbers them, so the apply step replaces a run's
spans rather than patching them.
"""

from __future__ import annotations

from collections import defaultdict, deque
from datetime import datetime, timedelta
from typing import Any, Literal

import msgspec

ToolEventType = Literal["tool_start", "tool_end", "tool_error"]
SpanStatus = Literal["ok", "error", "open"]
SpanState = Literal["ok", "error", "open", "abandoned"]

_START = "tool_start"
_END_TYPES = frozenset({"tool_end", "tool_error"})
_TOOL_EVENT_TYPES = frozenset({_START, *_END_TYPES})
_MILLISECOND = timedelta(milliseconds=1)


class ToolEvent(msgspec.Struct, frozen=True):
    """A ``tool_start``, ``tool_end`` or ``tool_error`` event, as plain values.

    Structs rather than frozen dataclasses here: a batch pairs thousands of tool events,
    and a frozen dataclass costs several times more to build."""

    type: ToolEventType
    tool_name: str
    span_id: str | None
    ts: datetime
    seq: int | None
    event_id: str
    payload: dict[str, Any] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in _TOOL_EVENT_TYPES:
            raise ValueError(f"not a tool event type: {self.type!r}")


class Span(msgspec.Struct, frozen=True):
    """One tool call: its start, its end or error, and what went in and came out.

    ``started_at`` is None for an end whose start never arrived; ``ended_at`` is None
    while the call is open.
    """

    span_key: str
    tool_name: str
    started_at: datetime | None
    ended_at: datetime | None
    status: SpanStatus
    input_str: str | None
    output: Any
    error: dict[str, Any] | None
    start_event_id: str | None
    end_event_id: str | None
    explicit: bool  # paired by span_id rather than by order
    attributes: dict | None = None  # what the start carried beyond the protocol's fields
    start_seq: int | None = None
    end_seq: int | None = None

    @property
    def duration_ms(self) -> int | None:
        """Milliseconds from start to end; None unless both are known."""
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at) // _MILLISECOND


def pair_tool_events(events: list[ToolEvent]) -> list[Span]:
    """Return the spans of a run's tool events, ordered by their first event.

    See the module docstring for the pairing rules. An event re-sent with the same
    event_id counts once.
    """
    ordered = _unique_in_order(events)
    with_id = [event for event in ordered if event.span_id is not None]
    without_id = [event for event in ordered if event.span_id is None]
    pairs = _pair_by_span_id(with_id) + _pair_in_order_per_tool(without_id)
    pairs.sort(key=lambda pair: _order(pair.first))
    return [_span(pair) for pair in pairs]


class _Pair(msgspec.Struct, frozen=True):
    key: str
    start: ToolEvent | None
    end: ToolEvent | None

    @property
    def first(self) -> ToolEvent:
        event = self.start or self.end
        assert event is not None, "a pair has a start, an end or both"
        return event


def _order(event: ToolEvent) -> tuple[datetime, int, str]:
    return (event.ts, -1 if event.seq is None else event.seq, event.event_id)


def _unique_in_order(events: list[ToolEvent]) -> list[ToolEvent]:
    ordered = sorted(events, key=_order)
    seen: set[str] = set()
    unique = []
    for event in ordered:
        if event.event_id not in seen:
            seen.add(event.event_id)
            unique.append(event)
    return unique


def _pair_by_span_id(events: list[ToolEvent]) -> list[_Pair]:
    starts: dict[str, ToolEvent] = {}
    ends: dict[str, ToolEvent] = {}
    for event in events:
        assert event.span_id is not None
        found = starts if event.type == _START else ends
        found.setdefault(event.span_id, event)  # events come in order: first one wins
    span_ids = starts.keys() | ends.keys()
    return [_Pair(span_id, starts.get(span_id), ends.get(span_id)) for span_id in span_ids]


def _pair_in_order_per_tool(events: list[ToolEvent]) -> list[_Pair]:
    pairs: list[_Pair] = []
    open_starts: dict[str, deque[tuple[str, ToolEvent]]] = defaultdict(deque)
    start_counts: dict[str, int] = defaultdict(int)
    orphan_counts: dict[str, int] = defaultdict(int)
    for event in events:
        name = event.tool_name
        if event.type == _START:
            start_counts[name] += 1
            open_starts[name].append((f"{name}#{start_counts[name]}", event))
        elif open_starts[name]:
            key, start = open_starts[name].popleft()
            pairs.append(_Pair(key, start, event))
        else:
            orphan_counts[name] += 1
            pairs.append(_Pair(f"{name}#end-{orphan_counts[name]}", None, event))
    pairs.extend(_Pair(key, start, None) for queue in open_starts.values() for key, start in queue)
    return pairs


def _span(pair: _Pair) -> Span:
    start, end = pair.start, pair.end
    failed = end is not None and end.type == "tool_error"
    return Span(
        span_key=pair.key,
        tool_name=pair.first.tool_name,
        started_at=start.ts if start else None,
        ended_at=end.ts if end else None,
        status="open" if end is None else "error" if failed else "ok",
        input_str=start.payload.get("input_str") if start else None,
        output=end.payload.get("output") if end and not failed else None,
        error=end.payload.get("error") if failed else None,
        start_event_id=start.event_id if start else None,
        end_event_id=end.event_id if end else None,
        explicit=pair.first.span_id is not None,
        attributes=(start.payload.get("attributes") or None) if start else None,
        start_seq=start.seq if start else None,
        end_seq=end.seq if end else None,
    )


def span_state(span: Span, run_ended: bool) -> SpanState:
    """Return the span's status for display: an open span is abandoned once its run ended."""
    if span.status == "open" and run_ended:
        return "abandoned"
    return span.status
