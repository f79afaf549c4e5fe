"""What the exporter keeps about one run while it is going on.

The sequence counter, timestamps and delivery counts are changed by the sender under
its lock; the tool spans and LLM call ids by the exporter, under the same lock.
"""

from __future__ import annotations

import re
import uuid

from charm_studio.config import Agent, Target

# A run id is `<agent slug>-<12 hex>`, and an event id `<run id>-<seq>`: at most
# 24 + 1 + 12 + 1 + 19 = 57 characters, within Studio's 64.
_SLUG_MAX = 24
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
RUN_FLUSH_BUDGET_SECONDS = 1.0


def new_run_id(agent_name: str) -> str:
    slug = _NOT_SLUG.sub("-", agent_name.lower()).strip("-")[:_SLUG_MAX].strip("-")
    return f"{slug or 'run'}-{uuid.uuid4().hex[:12]}"


class RunState:
    __slots__ = (
        "agent_field",
        "call_id",
        "calls",
        "dropped",
        "dropped_tokens",
        "ended",
        "flush_budget",
        "last_tool_error",
        "last_us",
        "open_spans",
        "outputs_error_type",
        "owner",
        "pending",
        "run_id",
        "seq",
        "spans",
        "target",
    )

    def __init__(self, agent: Agent, target: Target, owner: object) -> None:
        self.run_id = new_run_id(agent.name)
        self.agent_field = agent.as_event_field()
        self.target = target
        self.owner = owner  # the exporter that started the run (its private key object)
        self.seq = 0
        self.last_us = 0
        self.pending = 0  # events given to the sender and not yet sent or dropped
        self.dropped = 0
        self.dropped_tokens = 0
        self.flush_budget = RUN_FLUSH_BUDGET_SECONDS
        self.ended = False  # on_run_end or on_error came
        self.call_id: str | None = None
        self.calls = 0
        self.spans = 0
        self.open_spans: list[tuple[str, str]] = []  # (tool name, span id), oldest first
        self.last_tool_error: dict[str, str] | None = None
        self.outputs_error_type: str | None = None

    def current_call_id(self) -> str:
        """The LLM call the next token belongs to: a new one after a tool or an action."""
        call_id = self.call_id
        if call_id is None:
            self.calls += 1
            call_id = self.call_id = f"call-{self.calls}"
        return call_id

    def open_span(self, tool_name: str) -> str:
        self.spans += 1
        span_id = f"span-{self.spans}"
        self.open_spans.append((tool_name, span_id))
        self.call_id = None
        return span_id

    def close_span(self, tool_name: str) -> str:
        """The oldest open span of this tool, else the oldest open one, else a new id."""
        self.call_id = None
        spans = self.open_spans
        for position, (open_name, span_id) in enumerate(spans):
            if open_name == tool_name:
                del spans[position]
                return span_id
        if spans:
            return spans.pop(0)[1]
        self.spans += 1
        return f"span-{self.spans}"
