"""The run detail waterfall: rows, axis ticks, gaps and log markers from a run's items.

Pure Python: no Django, no database. The selectors turn tool spans, LLM calls and
stored events into `Item`s; `build_waterfall` lays them on one time axis.

- Positions are percentages of the run's time span (`Axis`): ``left`` is where a bar
  starts, ``width`` how long it lasts; an instant (action, status change, error) is a
  point with width 0. An open tool span runs to the end of the axis.
- Nesting: a tool span sits under the agent action that asked for it (the earliest
  unmatched action for the same tool at or before the span's start, each action used
  once: the SDK calls on_agent_action, then on_tool_start), and
  a tool span that lies inside another tool span sits under it. Children follow their
  parent; siblings are in time order.
- An LLM call's bar starts at the latest stored (non-token) event before its first
  token and is split in two: waiting for the first token (time to first token), then
  streaming to the last token.
- Gaps are stretches of the run where nothing was happening: no bar covers them and
  no instant falls in them.
- Logs are not rows: they are bucketed into thin markers on one lane
  (`log_markers`), the worst level of a bucket giving its colour.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

KINDS = ("tool", "llm", "action", "status", "log", "error")
_KIND_ORDER = {"status": 0, "action": 1, "tool": 2, "llm": 3, "error": 4, "log": 5}
_MS = timedelta(milliseconds=1)
_TICK_STEPS_MS = (
    1, 2, 5, 10, 20, 50, 100, 200, 250, 500,
    1_000, 2_000, 5_000, 10_000, 15_000, 30_000,
    60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000,
    3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
)  # fmt: skip
LABEL_FLIP_PERCENT = 82.0  # a bar ending past this puts its duration on its left
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


@dataclass(frozen=True, slots=True)
class Axis:
    """The run's time span: every position on the waterfall is a percentage of it."""

    start: datetime
    end: datetime

    @property
    def span_ms(self) -> float:
        return max((self.end - self.start) / _MS, 1.0)

    def percent(self, at: datetime) -> float:
        """Where `at` falls on the axis, 0–100, clamped."""
        value = (at - self.start) / _MS / self.span_ms * 100
        return round(min(100.0, max(0.0, value)), 3)

    def offset_ms(self, at: datetime) -> float:
        return (at - self.start) / _MS


def axis_for(start: datetime, end: datetime | None) -> Axis:
    """An axis from the run's first to its last moment; never empty or reversed."""
    if end is None or end < start:
        end = start
    return Axis(start=start, end=end)


@dataclass(frozen=True, slots=True)
class Item:
    """One thing that happened in a run, before layout.

    ``end`` None means an instant, unless ``open`` (a tool call still running, which
    lasts to the end of the axis). ``wait_start`` is an LLM call's start: the latest
    event before its first token, ``start`` being the first token itself.
    """

    kind: str
    key: str
    label: str
    start: datetime
    end: datetime | None = None
    open: bool = False
    error: bool = False
    status: str = ""
    detail: str = ""  # a short second label: the model, the status, the tool input
    tool: str = ""  # actions and tool spans: the tool's name, to nest spans
    wait_start: datetime | None = None

    @property
    def begins(self) -> datetime:
        return self.wait_start or self.start

    def ends(self, axis_end: datetime) -> datetime:
        if self.open:
            return max(axis_end, self.start)
        return self.end or self.start


@dataclass(frozen=True, slots=True)
class Row:
    """One waterfall row, laid out: what the template draws."""

    kind: str
    key: str
    label: str
    detail: str
    depth: int
    left: float
    width: float
    point: bool
    open: bool
    error: bool
    status: str
    duration_ms: int | None
    duration: str
    wait_percent: float  # LLM calls: the share of the bar spent before the first token
    flip: bool  # the duration label goes left of the bar
    start_ms: int  # epoch milliseconds, for the live view to rescale rows
    end_ms: int | None  # None while open
    ttft_ms: int | None = None

    @property
    def item(self) -> str:
        return f"{self.kind}:{self.key}"


@dataclass(frozen=True, slots=True)
class Tick:
    left: float
    label: str


@dataclass(frozen=True, slots=True)
class Gap:
    left: float
    width: float
    duration: str


@dataclass(frozen=True, slots=True)
class LogBucket:
    """Log lines that fall in one slice of the run, from the database's aggregate."""

    index: int
    count: int
    worst_level: str
    first_event_id: str
    first_at: datetime


@dataclass(frozen=True, slots=True)
class LogMarker:
    left: float
    level: str
    count: int
    event_id: str
    title: str


@dataclass
class Waterfall:
    axis: Axis
    rows: list[Row]
    ticks: list[Tick]
    gaps: list[Gap]
    more: bool = False  # rows past the cap were left out
    total: int = 0
    log_markers: list[LogMarker] = field(default_factory=list)

    @property
    def start_ms(self) -> int:
        return epoch_ms(self.axis.start)

    @property
    def end_ms(self) -> int:
        return epoch_ms(self.axis.end)


def epoch_ms(at: datetime) -> int:
    return math.floor(at.timestamp() * 1000)


def build_waterfall(
    items: Iterable[Item], axis: Axis, *, cap: int = 2000, offset: int = 0, min_gap_ms: int = 0
) -> Waterfall:
    """Lay items out on the axis, nested and ordered; keep rows [offset, offset + cap)."""
    items = list(items)
    ordered = nest(items)
    rows = [layout(item, depth, axis) for item, depth in ordered[offset : offset + cap]]
    return Waterfall(
        axis=axis,
        rows=rows,
        ticks=ticks(axis),
        gaps=gaps(items, axis, min_ms=min_gap_ms),
        more=len(ordered) > offset + cap,
        total=len(ordered),
    )


def _order(item: Item) -> tuple:
    return (item.begins, _KIND_ORDER.get(item.kind, 9), item.key)


def nest(items: list[Item]) -> list[tuple[Item, int]]:
    """Return items in display order with their depth (see the module docstring)."""
    ordered = sorted(items, key=_order)
    parent_of: dict[str, str] = {}
    _nest_spans_in_actions(ordered, parent_of)
    _nest_spans_in_spans(ordered, parent_of)
    children: dict[str | None, list[Item]] = {}
    for item in ordered:
        children.setdefault(parent_of.get(_id(item)), []).append(item)
    flat: list[tuple[Item, int]] = []
    stack = [(item, 0) for item in reversed(children.get(None, []))]
    while stack:
        item, depth = stack.pop()
        flat.append((item, depth))
        stack.extend((child, depth + 1) for child in reversed(children.get(_id(item), [])))
    return flat


def _id(item: Item) -> str:
    return f"{item.kind}:{item.key}"


def _nest_spans_in_actions(ordered: list[Item], parent_of: dict[str, str]) -> None:
    pending: dict[str, list[Item]] = {}  # tool name -> actions not yet matched, in order
    for item in ordered:
        if item.kind == "action":
            pending.setdefault(item.tool, []).append(item)
        elif item.kind == "tool" and pending.get(item.tool):
            parent_of[_id(item)] = _id(pending[item.tool].pop(0))  # first asked, first run


def _nest_spans_in_spans(ordered: list[Item], parent_of: dict[str, str]) -> None:
    open_spans: list[Item] = []  # spans that may still contain later ones, outermost first
    for item in ordered:
        if item.kind != "tool":
            continue
        while open_spans and not _contains(open_spans[-1], item):
            open_spans.pop()
        if open_spans and _id(item) not in parent_of:
            parent_of[_id(item)] = _id(open_spans[-1])
        if item.end is not None or item.open:
            open_spans.append(item)


def _contains(outer: Item, inner: Item) -> bool:
    if outer.open:
        return inner.start >= outer.start
    if outer.end is None:
        return False
    inner_end = inner.end or inner.start
    return outer.start <= inner.start and inner_end <= outer.end and outer.end > outer.start


def layout(item: Item, depth: int, axis: Axis) -> Row:
    """Position one item on the axis."""
    begins = item.begins
    ends = item.ends(axis.end)
    point = item.end is None and not item.open
    left = axis.percent(begins)
    width = 0.0 if point else round(max(0.0, axis.percent(ends) - left), 3)
    duration_ms = None if point or item.open else round((ends - begins) / _MS)
    wait = 0.0
    ttft = None
    if item.wait_start is not None and ends > begins:
        wait = round(min(100.0, (item.start - begins) / (ends - begins) * 100), 2)
    if item.wait_start is not None:
        ttft = round((item.start - item.wait_start) / _MS)
    return Row(
        kind=item.kind,
        key=item.key,
        label=item.label,
        detail=item.detail,
        depth=depth,
        left=left,
        width=width,
        point=point,
        open=item.open,
        error=item.error,
        status=item.status,
        duration_ms=duration_ms,
        duration=format_ms(duration_ms) if duration_ms is not None else "",
        wait_percent=wait,
        flip=left + width > LABEL_FLIP_PERCENT,
        start_ms=epoch_ms(begins),
        end_ms=None if item.open else epoch_ms(ends),
        ttft_ms=ttft,
    )


def ticks(axis: Axis, *, target: int = 6) -> list[Tick]:
    """Round-numbered ticks across the axis, about `target` of them, labelled from 0."""
    span = axis.span_ms
    step = next((s for s in _TICK_STEPS_MS if span / s <= target), _TICK_STEPS_MS[-1])
    while span / step > target * 2:  # runs longer than the table: double until it fits
        step *= 2
    count = int(span // step)
    return [
        Tick(left=round(n * step / span * 100, 3), label=format_ms(n * step, axis=True))
        for n in range(count + 1)
    ]


def gaps(items: list[Item], axis: Axis, *, min_ms: int = 0) -> list[Gap]:
    """Stretches with nothing running, longer than `min_ms` and than 2% of the run."""
    threshold = max(min_ms, axis.span_ms * 0.02, 1.0)
    intervals = sorted(
        (axis.offset_ms(item.begins), axis.offset_ms(item.ends(axis.end)))
        for item in items
        if item.kind != "log"
    )
    found: list[Gap] = []
    covered_until = 0.0
    for start, end in intervals:
        if start - covered_until > threshold:
            found.append(_gap(covered_until, start, axis))
        covered_until = max(covered_until, end)
    if axis.span_ms - covered_until > threshold and intervals:
        found.append(_gap(covered_until, axis.span_ms, axis))
    return found


def _gap(start_ms: float, end_ms: float, axis: Axis) -> Gap:
    left = round(start_ms / axis.span_ms * 100, 3)
    width = round((end_ms - start_ms) / axis.span_ms * 100, 3)
    return Gap(left=left, width=width, duration=format_ms(round(end_ms - start_ms)))


def log_markers(buckets: Iterable[LogBucket], axis: Axis, *, bucket_count: int) -> list[LogMarker]:
    """One thin marker per non-empty bucket, at the time of its first line."""
    markers = []
    for bucket in buckets:
        lines = "line" if bucket.count == 1 else "lines"
        title = f"{bucket.count} log {lines}, worst {bucket.worst_level}"
        markers.append(
            LogMarker(
                left=axis.percent(bucket.first_at),
                level=bucket.worst_level,
                count=bucket.count,
                event_id=bucket.first_event_id,
                title=title,
            )
        )
    return markers


def format_ms(ms: float | None, *, axis: bool = False) -> str:
    """A duration as people read it: 840 ms, 1.2 s, 14 s, 2 min 05 s, 1 h 02 min."""
    if ms is None:
        return ""
    ms = round(ms)
    if ms == 0 and axis:
        return "0"
    if ms < 1_000:
        return f"{ms} ms"
    if ms < 10_000:
        text = f"{ms / 1000:.2f}".rstrip("0").rstrip(".")
        return f"{text} s"
    if ms < 60_000:
        text = f"{ms / 1000:.1f}".rstrip("0").rstrip(".")
        return f"{text} s"
    seconds = round(ms / 1000)
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min" if rest == 0 else f"{minutes} min {rest:02d} s"
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    return f"{hours} h" if minutes == 0 else f"{hours} h {minutes:02d} min"


# ── The token timing strip of an LLM call ─────────────────────────────────────


@dataclass(frozen=True, slots=True)
class StripTick:
    x: float  # 0–1000, the strip's viewBox width
    height: float  # 0–1: more tokens in one pixel column make a taller tick
    count: int

    @property
    def top(self) -> float:
        """Where the tick starts in the strip's 40-unit-high viewBox."""
        return round(40 - self.height * 34, 2)


@dataclass(frozen=True, slots=True)
class StripStall:
    x: float
    width: float
    gap: str
    after_index: int

    @property
    def left_percent(self) -> float:
        return round(self.x / 10, 2)


@dataclass
class TokenStrip:
    ticks: list[StripTick]
    stalls: list[StripStall]
    duration: str
    token_count: int
    width: int = 1000


def token_strip(
    offsets_ms: list[int], stalls: Iterable[tuple[int, int]], *, columns: int = 500
) -> TokenStrip:
    """A call's tokens as ticks on a strip, binned into at most `columns` columns so a
    10,000-token answer draws 500 ticks, not 10,000. `stalls` are (after_index, gap_ms)."""
    if not offsets_ms:
        return TokenStrip([], [], "", 0)
    duration = max(offsets_ms[-1], 1)
    width = 1000
    bins: dict[int, int] = {}
    for offset in offsets_ms:
        column = min(columns - 1, int(offset / duration * columns))
        bins[column] = bins.get(column, 0) + 1
    most = max(bins.values())
    tick_list = [
        StripTick(
            x=round((column + 0.5) * width / columns, 2),
            height=round(0.45 + 0.55 * count / most, 3),
            count=count,
        )
        for column, count in sorted(bins.items())
    ]
    if len(offsets_ms) == 1:
        tick_list = [StripTick(x=0.0, height=1.0, count=1)]
    stall_list = []
    for after_index, gap_ms in stalls:
        if not 0 <= after_index < len(offsets_ms) - 1:
            continue
        start = offsets_ms[after_index]
        stall_list.append(
            StripStall(
                x=round(start / duration * width, 2),
                width=round(gap_ms / duration * width, 2),
                gap=format_ms(gap_ms),
                after_index=after_index,
            )
        )
    return TokenStrip(tick_list, stall_list, format_ms(offsets_ms[-1]), len(offsets_ms))
