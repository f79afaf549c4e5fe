"""Two runs side by side: their timelines aligned step by step and where they diverge.

The pure part turns a run's tool spans, LLM calls, agent actions and errors into
steps (``timeline_steps``), lines two step lists up (``align``) and says in one line
where they first differ (``divergence_text``). The debug checklist uses the same
functions, so "where the local run and this run diverge" reads the same on both pages.
The selectors at the bottom read what the pure part needs in a fixed number of queries.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from django.db.models import Q

from runs.models import LlmCall, Run, ToolSpan
from runs.selectors.events import run_events
from studio.models import Project

StepKind = Literal["action", "llm", "tool", "error"]
STEP_EVENT_TYPES = ("agent_action", "error")
MAX_STEPS = 400  # per run; a longer run is compared on its first 400 steps
MAX_STEP_EVENTS = 2000
RUNTIME_KEYS = ("image", "python", "sdk_version", "region")
# At equal times an agent action comes before the tool it calls, a crash after both.
_KIND_ORDER = {"action": 0, "llm": 1, "tool": 2, "error": 3}


def code(name: object) -> str:
    """A name quoted for evidence text: `search`. Backticks inside it are replaced, so
    the template's split on backticks can never be fooled by user content."""
    return "`" + str(name).replace("`", "'") + "`"


def code_parts(text: str) -> list[tuple[str, bool]]:
    """Split evidence text on backticks: [(text, is_code), …], for <code> rendering."""
    return [(part, index % 2 == 1) for index, part in enumerate(text.split("`")) if part]


# ── Steps ────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Step:
    """One thing a run did, compared by (kind, name, outcome, error type)."""

    kind: StepKind
    name: str
    outcome: str = ""  # tools: ok, error, open, abandoned
    error_type: str = ""
    at: datetime | None = None
    detail: str = ""  # shown, never compared: an error message's first line

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.kind, self.name, self.outcome, self.error_type)

    def describe(self) -> str:
        """What the run did, after a subject: "called `search` → error TimeoutError"."""
        if self.kind == "tool":
            result = {
                "ok": "ok",
                "error": f"error {self.error_type}".strip(),
                "open": "still running",
                "abandoned": "never finished",
            }.get(self.outcome, self.outcome)
            return f"called {code(self.name)} → {result}"
        if self.kind == "action":
            return f"chose the action {code(self.name)}"
        if self.kind == "llm":
            return f"called the model {code(self.name)}" if self.name else "called an LLM"
        return f"crashed with {self.name}"


class SpanLike(Protocol):
    tool_name: str
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    error: dict | None


class CallLike(Protocol):
    model: str
    first_token_at: datetime | None
    usage_at: datetime | None


EventRow = tuple[str, datetime, int | None, str, dict]  # event_id, ts, seq, type, data


def timeline_steps(
    *,
    spans: Iterable[SpanLike],
    calls: Iterable[CallLike],
    events: Iterable[EventRow],
    run_ended: bool,
) -> list[Step]:
    """A run's steps in time order: tool spans, LLM calls, agent actions and crashes.

    ``events`` are stored event rows; only ``agent_action`` and ``error`` are used (tool
    events are already folded into spans). An open span of a finished run is
    "abandoned"."""
    timed: list[tuple[tuple, Step]] = []
    for span in spans:
        at = span.started_at or span.ended_at
        outcome = "abandoned" if span.status == "open" and run_ended else span.status
        error = span.error if isinstance(span.error, dict) else {}
        step = Step(
            kind="tool",
            name=span.tool_name,
            outcome=outcome,
            error_type=str(error.get("type") or ""),
            at=at,
            detail=_first_line(error.get("message")),
        )
        timed.append(((at, _KIND_ORDER["tool"], -1), step))
    for call in calls:
        at = call.first_token_at or call.usage_at
        if at is not None:
            timed.append(((at, _KIND_ORDER["llm"], -1), Step("llm", call.model or "", at=at)))
    for _event_id, ts, seq, type_, data in events:
        step = _event_step(type_, ts, data)
        if step is not None:
            timed.append(((ts, _KIND_ORDER[step.kind], seq if seq is not None else -1), step))
    timed.sort(key=lambda item: (item[0][0] is None, item[0][0] or datetime.min, *item[0][1:]))
    return [step for _, step in timed]


def _event_step(type_: str, ts: datetime, data: dict) -> Step | None:
    if type_ == "agent_action":
        return Step("action", str(data.get("tool") or ""), at=ts)
    if type_ == "error":
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        error_type = str(error.get("type") or "Error")
        return Step("error", error_type, at=ts, detail=_first_line(error.get("message")))
    return None


def _first_line(message: object, limit: int = 200) -> str:
    text = next((line.strip() for line in str(message or "").splitlines() if line.strip()), "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ── Alignment ────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class AlignedRow:
    number: int  # the step number shown: 1, 2, 3…
    a: Step | None
    b: Step | None

    @property
    def same(self) -> bool:
        return self.a is not None and self.b is not None and self.a.key == self.b.key


@dataclass(frozen=True)
class Alignment:
    rows: list[AlignedRow]
    divergence: AlignedRow | None  # the first row that differs, None when all match
    truncated: bool = False  # a run had more than MAX_STEPS steps

    @property
    def matching(self) -> int:
        return sum(row.same for row in self.rows)


def align(a: Sequence[Step], b: Sequence[Step]) -> Alignment:
    """Line two timelines up step by step.

    The common beginning and end are kept as they are; the middle is aligned with a
    longest-matching-blocks diff, so a step one run has and the other has not shows as
    a gap instead of shifting every later step. The first divergence is always the
    first step after the common beginning."""
    truncated = len(a) > MAX_STEPS or len(b) > MAX_STEPS
    a, b = list(a[:MAX_STEPS]), list(b[:MAX_STEPS])
    prefix = 0
    while prefix < min(len(a), len(b)) and a[prefix].key == b[prefix].key:
        prefix += 1
    suffix = 0
    while suffix < min(len(a), len(b)) - prefix and a[-1 - suffix].key == b[-1 - suffix].key:
        suffix += 1
    pairs: list[tuple[Step | None, Step | None]] = list(zip(a[:prefix], b[:prefix], strict=True))
    pairs += _align_middle(a[prefix : len(a) - suffix], b[prefix : len(b) - suffix])
    if suffix:
        pairs += list(zip(a[len(a) - suffix :], b[len(b) - suffix :], strict=True))
    rows = [AlignedRow(number, x, y) for number, (x, y) in enumerate(pairs, start=1)]
    divergence = next((row for row in rows if not row.same), None)
    return Alignment(rows=rows, divergence=divergence, truncated=truncated)


def _align_middle(a: list[Step], b: list[Step]) -> list[tuple[Step | None, Step | None]]:
    matcher = difflib.SequenceMatcher(None, [s.key for s in a], [s.key for s in b], autojunk=False)
    pairs: list[tuple[Step | None, Step | None]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs += list(zip(a[i1:i2], b[j1:j2], strict=True))
        elif tag == "replace":
            left, right = a[i1:i2], b[j1:j2]
            width = max(len(left), len(right))
            left += [None] * (width - len(left))
            right += [None] * (width - len(right))
            pairs += list(zip(left, right, strict=True))
        elif tag == "delete":
            pairs += [(step, None) for step in a[i1:i2]]
        else:
            pairs += [(None, step) for step in b[j1:j2]]
    return pairs


def divergence_text(alignment: Alignment, *, label_a: str, label_b: str) -> str:
    """One line: where two timelines first differ, or that they match."""
    row = alignment.divergence
    if row is None:
        count = len(alignment.rows)
        if not count:
            return "Neither run recorded any step (tool call, LLM call, agent action or error)."
        return f"The timelines match step for step ({count} step{'s' if count != 1 else ''})."
    return (
        f"At step {row.number}, {_side(label_a, row.a, alignment, 'a')}; "
        f"{_side(label_b, row.b, alignment, 'b')}."
    )


def _side(label: str, step: Step | None, alignment: Alignment, side: str) -> str:
    if step is not None:
        return f"{label} {step.describe()}"
    if all(getattr(row, side) is None for row in alignment.rows):
        return f"{label} recorded no step at all"
    later = [row for row in alignment.rows if row.number > alignment.divergence.number]
    if all(getattr(row, side) is None for row in later):
        return f"{label} had no more steps"
    return f"{label} had no matching step"


# ── Field-by-field differences ───────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class ValueDiff:
    path: str
    a: str | None  # the value as compact JSON, None when absent
    b: str | None

    @property
    def state(self) -> str:
        if self.a is None:
            return "only_b"
        if self.b is None:
            return "only_a"
        return "same" if self.a == self.b else "changed"


MAX_VALUE_CHARS = 300
MAX_PATHS = 300


def json_differences(a: Any, b: Any) -> tuple[list[ValueDiff], bool]:
    """Both values flattened to paths ("items[0].sku") and lined up, in path order.

    Returns (rows, truncated); values are compact JSON, cut at 300 characters."""
    left, right = dict(_flatten(a)), dict(_flatten(b))
    paths = list(dict.fromkeys([*left, *right]))
    rows = [ValueDiff(path, left.get(path), right.get(path)) for path in paths[:MAX_PATHS]]
    return rows, len(paths) > MAX_PATHS


def _flatten(value: Any, path: str = "") -> Iterable[tuple[str, str]]:
    if value is None and not path:
        return  # no inputs or outputs at all: every value of the other run is "absent"
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _flatten(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _flatten(item, f"{path}[{index}]")
    else:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        if len(text) > MAX_VALUE_CHARS:
            text = text[: MAX_VALUE_CHARS - 1] + "…"
        yield path or "(value)", text


def runtime_differences(a: dict | None, b: dict | None) -> list[ValueDiff]:
    """Runtime keys side by side: image, python, sdk_version, region first, then the rest.

    A key only one run reported is listed with None on the other side; it is not a
    known difference (see ``ValueDiff.state``)."""
    a, b = a if isinstance(a, dict) else {}, b if isinstance(b, dict) else {}
    others = sorted((set(a) | set(b)) - set(RUNTIME_KEYS))
    return [
        ValueDiff(key, _runtime_value(a.get(key)), _runtime_value(b.get(key)))
        for key in (*RUNTIME_KEYS, *others)
        if _runtime_value(a.get(key)) is not None or _runtime_value(b.get(key)) is not None
    ]


def _runtime_value(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str)


# ── Selectors ────────────────────────────────────────────────────────────────


def step_events(run: Run, *, extra_types: Sequence[str] = ()) -> list[EventRow]:
    """The run's agent actions and crashes (plus ``extra_types``), in order: one query."""
    return run_events(
        run, types=[*STEP_EVENT_TYPES, *extra_types], after=None, limit=MAX_STEP_EVENTS
    )


def runs_spans_and_calls(
    runs: Sequence[Run],
) -> tuple[dict[int, list[ToolSpan]], dict[int, list[LlmCall]]]:
    """The tool spans and LLM calls of each run, by run pk: two queries for any runs."""
    pks = [run.pk for run in runs]
    project_id = runs[0].project_id
    spans: dict[int, list[ToolSpan]] = {pk: [] for pk in pks}
    for span in (
        ToolSpan.objects.filter(project_id=project_id, run_id__in=pks)
        .only("run_id", "span_key", "tool_name", "status", "started_at", "ended_at", "error")
        .order_by("started_at", "span_key")
    ):
        spans[span.run_id].append(span)
    calls: dict[int, list[LlmCall]] = {pk: [] for pk in pks}
    for call in (
        LlmCall.objects.filter(project_id=project_id, run_id__in=pks)
        .only("run_id", "model", "first_token_at", "usage_at")
        .order_by("first_token_at", "usage_at", "call_id")
    ):
        calls[call.run_id].append(call)
    return spans, calls


def runs_steps(
    runs: Sequence[Run],
    events: dict[int, list[EventRow]],
    spans: dict[int, list[ToolSpan]],
    calls: dict[int, list[LlmCall]],
) -> dict[int, list[Step]]:
    """Steps of each run by pk, from what was already read (no query)."""
    return {
        run.pk: timeline_steps(
            spans=spans.get(run.pk, []),
            calls=calls.get(run.pk, []),
            events=events.get(run.pk, []),
            run_ended=run.status_terminal,
        )
        for run in runs
    }


def side_label(run: Run, other: Run) -> str:
    """How a run is named against another: its environment, or its id when both share it."""
    if run.environment != other.environment:
        return run.environment
    return run.run_id


@dataclass
class Comparison:
    a: Run
    b: Run
    alignment: Alignment
    divergence: str
    label_a: str
    label_b: str
    runtime: list[ValueDiff]
    inputs: list[ValueDiff]
    inputs_truncated: bool
    outputs: list[ValueDiff]
    outputs_truncated: bool
    same_inputs: bool = field(default=False)


def run_comparison(*, project: Project, run_id_a: str, run_id_b: str) -> Comparison | None:
    """Two runs of the project compared; None when either is not one of its runs.

    Five queries: the two runs, their step events (one each), their spans, their calls."""
    found = {
        run.run_id: run
        for run in Run.objects.filter(project=project, run_id__in=[run_id_a, run_id_b])
    }
    a, b = found.get(run_id_a), found.get(run_id_b)
    if a is None or b is None:
        return None
    runs = [a] if a.pk == b.pk else [a, b]
    events = {run.pk: step_events(run) for run in runs}
    steps = runs_steps(runs, events, *runs_spans_and_calls(runs))
    alignment = align(steps[a.pk], steps[b.pk])
    label_a, label_b = side_label(a, b), side_label(b, a)
    inputs, inputs_truncated = json_differences(a.inputs, b.inputs)
    outputs, outputs_truncated = json_differences(a.outputs, b.outputs)
    return Comparison(
        a=a,
        b=b,
        alignment=alignment,
        divergence=divergence_text(alignment, label_a=label_a, label_b=label_b),
        label_a=label_a,
        label_b=label_b,
        runtime=runtime_differences(a.runtime, b.runtime),
        inputs=inputs,
        inputs_truncated=inputs_truncated,
        outputs=outputs,
        outputs_truncated=outputs_truncated,
        same_inputs=bool(a.input_fingerprint) and a.input_fingerprint == b.input_fingerprint,
    )


@dataclass
class Candidates:
    run: Run
    same_input: list[Run]
    same_agent: list[Run]


_CANDIDATE_FIELDS = (
    "run_id", "agent_name", "agent_version", "environment", "status", "started_at",
    "duration_ms", "error_type", "input_fingerprint", "stalled",
)  # fmt: skip


def compare_candidates(*, project: Project, run_id: str, limit: int = 10) -> Candidates | None:
    """Runs to compare a run with: the same input first, then the agent's recent runs.

    Three queries; None when the run is not one of the project's."""
    run = Run.objects.filter(project=project, run_id=run_id).first()
    if run is None:
        return None
    others = Run.objects.filter(project=project).exclude(pk=run.pk).only(*_CANDIDATE_FIELDS)
    same_input: list[Run] = []
    if run.input_fingerprint:
        same_input = list(
            others.filter(input_fingerprint=run.input_fingerprint).order_by("-started_at", "-id")[
                :limit
            ]
        )
    same_agent = list(
        others.filter(agent_name=run.agent_name)
        .exclude(Q(pk__in=[r.pk for r in same_input]))
        .order_by("-started_at", "-id")[:limit]
    )
    return Candidates(run=run, same_input=same_input, same_agent=same_agent)
