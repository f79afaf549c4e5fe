"""LLM calls: streamed tokens fold into one row per call; usage events add tokens and cost."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace

from billing.prices import Pricer
from runs.ingest.rollups import Contribution, add_into, call_contribution
from runs.ingest.runstate import RunState
from runs.models import TOKEN_COUNTS, LlmCall, Run
from runs.protocol import Event
from runs.tokens import call_text, make_token, merge_tokens, tokens_from_json, tokens_to_json
from studio.sql import insert_rows, model_defaults, update_rows

USAGE_TYPES = ("usage", "llm_call")  # the events that carry a call's token counts


@dataclass
class CallChange:
    new_tokens: int = 0
    usage: list[dict] = field(default_factory=list)  # call_contribution kwargs, less dims


def default_call_id(model: str | None) -> str:
    """Tokens without a call_id: one call per model in the run (emitters should send one)."""
    return f"auto:{model or ''}"


def calls_apply(
    *,
    runs: list[Run],
    tokens: dict[str, list[Event]],
    usage: dict[str, list[Event]],
    price: Pricer,
    created: set[str] = frozenset(),
) -> dict[str, CallChange]:
    """Fold new tokens and usage events into the LLM calls of a batch's runs (keyed by
    run_id), in a fixed number of queries; add the results to each run's totals. Runs
    `created` by this batch have no calls stored, so theirs are not looked for."""
    wanted: dict[tuple[int, str], tuple[Run, list[Event], list[Event]]] = {}
    for run in runs:
        pk = run.pk
        for token in tokens.get(run.run_id, ()):  # most of a batch: kept to plain lookups
            data = token.data
            key = (pk, data.get("call_id") or default_call_id(data.get("model")))
            held = wanted.get(key)
            if held is None:
                held = wanted[key] = (run, [], [])
            held[1].append(token)
        for event in usage.get(run.run_id, ()):
            # A usage event without a call id is a call of its own.
            call_id = event.data.get("call_id") or f"usage:{event.event_id}"
            wanted.setdefault((pk, call_id), (run, [], []))[2].append(event)
    changes = {run.run_id: CallChange() for run in runs}
    if not wanted:
        return changes
    stored_runs = {run.pk for run in runs if run.run_id not in created}
    looked_for = [(pk, call_id) for pk, call_id in wanted if pk in stored_runs]
    existing = (
        {
            (c.run_id, c.call_id): c
            for c in LlmCall.objects.filter(
                run_id__in={pk for pk, _ in looked_for}, call_id__in={cid for _, cid in looked_for}
            )
        }
        if looked_for
        else {}
    )
    new_calls, updated = [], []
    for key in sorted(wanted):
        run, call_tokens, call_usage = wanted[key]
        call = existing.get(key)
        if call is None:
            # A plain row, not a model instance: building one costs more than its insert.
            call = SimpleNamespace(**model_defaults(LlmCall))
            call.project_id, call.run_id, call.call_id = run.project_id, run.pk, key[1]
            new_calls.append(call)
            run.llm_calls += 1
        else:
            updated.append(call)
        change = changes[run.run_id]
        change.new_tokens += _fold_tokens(call, call_tokens)
        for event in call_usage:
            if event.type == "llm_call":
                _fold_whole_call(call, event)
            change.usage.append(_fold_usage(call, event, price))
    insert_rows(LlmCall, [vars(call) for call in new_calls])
    update_rows(LlmCall, updated, exclude=("project_id", "run_id", "call_id"))
    for run in runs:
        _add_run_totals(run, changes[run.run_id])
    return changes


def _fold_whole_call(call: LlmCall, event: Event) -> None:
    """A call told whole: its times, what it was sent, its answer (unless tokens
    streamed it), and the rest it carried. Its usage folds like a usage event's."""
    data = event.data
    started = data.get("started_at")
    call.started_at = datetime.fromisoformat(started) if started else event.ts
    call.ended_at = event.ts
    call.prompt = data.get("input")
    if not call.token_count:
        call.text = data.get("output") or ""
    details = dict(data.get("attributes") or {})
    if data.get("error"):
        details["error"] = data["error"]
    call.details = details


def _fold_tokens(call: LlmCall, events: list[Event]) -> int:
    """Merge tokens into the call, deduped and ordered; return how many were new."""
    if not events:
        return 0
    before = tokens_from_json(call.tokens)
    merged = merge_tokens(
        before, [make_token(e.seq, e.ts, e.event_id, e.data["token"]) for e in events]
    )
    told = call_text(merged)  # the stalls and offsets are worked out when shown
    call.tokens = tokens_to_json(merged)
    call.text = told.text
    call.token_count = told.token_count
    call.first_token_at = told.first_token_at
    call.last_token_at = told.last_token_at
    if not call.model:
        call.model = next((e.data["model"] for e in events if e.data.get("model")), "")
    return len(merged) - len(before)


def _fold_usage(call: LlmCall, event: Event, price: Pricer) -> dict:
    data = event.data
    tokens = {name: data.get(name, 0) for name in TOKEN_COUNTS}  # cache counts may be left out
    priced = price(data["model"], event.ts.date(), tokens)
    cost = priced[0] if priced else None
    first_usage = call.usage_at is None
    call.model = data["model"]
    call.usage_at = min(call.usage_at, event.ts) if call.usage_at else event.ts
    for name, count in tokens.items():
        setattr(call, name, getattr(call, name) + count)
    if priced is not None and (first_usage or call.cost is not None):
        call.cost = (call.cost or Decimal(0)) + cost
        call.price_id = priced[1]
    else:
        call.cost, call.price_id = None, None  # one unpriced part makes the call unpriced
    return {
        "usage_at": event.ts,
        "model": data["model"],
        "tokens": tokens,
        "cost": cost,
        "first_usage": first_usage,
    }


def _add_run_totals(run: Run, change: CallChange) -> None:
    run.token_count += change.new_tokens
    for part in change.usage:
        for name in TOKEN_COUNTS:
            setattr(run, name, getattr(run, name) + part["tokens"][name])
        if part["cost"] is None:
            run.unpriced_calls += int(part["first_usage"])
        else:
            run.cost += part["cost"]


def move_call_rollups(
    run: Run, before: RunState | None, after: RunState, change: CallChange, delta: Contribution
) -> None:
    """Add new usage to the rollup under the run's agent and environment. When those
    changed in this batch (a late run_start named the agent), move the earlier usage."""
    moved = before is not None and (before.agent_name, before.environment) != (
        after.agent_name,
        after.environment,
    )
    if not moved:
        for part in change.usage:
            add_into(delta, _contribution(part, after))
        return
    for call in LlmCall.objects.filter(run=run, usage_at__isnull=False):
        whole = _call_part(call)  # includes this batch's usage
        add_into(delta, _contribution(whole, after))
        add_into(delta, _contribution(whole, before), -1)
    for part in change.usage:  # never counted under the old agent: cancel its removal
        add_into(delta, _contribution(part, before))


def _call_part(call: LlmCall) -> dict:
    return {
        "usage_at": call.usage_at,
        "model": call.model,
        "tokens": {name: getattr(call, name) for name in TOKEN_COUNTS},
        "cost": call.cost,
        "first_usage": True,
    }


def _contribution(part: dict, state: RunState) -> Contribution:
    contribution = call_contribution(
        usage_at=part["usage_at"],
        agent_name=state.agent_name,
        model=part["model"],
        environment=state.environment,
        tokens=part["tokens"],
        cost=part["cost"],
    )
    if not part["first_usage"]:  # a second usage event of a call is not another call
        for row in contribution.values():
            row["llm_calls"] = 0
            row["unpriced_calls"] = 0
    return contribution
