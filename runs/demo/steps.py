"""What an agent does in a run (its script of steps), as content only: no timing."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# ---------------------------------------------------------------------------
# What an agent does in a run: content only, timing comes from the simulator
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LogLine:
    """A log line the agent writes (warnings and errors go to stderr)."""

    level: str
    message: str
    logger: str | None = None


@dataclass(frozen=True)
class LLMCall:
    """One LLM call: its answer streamed token by token, or (not `streamed`) reported
    whole once it is done, as a client that does not stream or OpenTelemetry tells it."""

    purpose: str
    model: str
    text: str
    input_tokens: int
    streamed: bool = True


@dataclass(frozen=True)
class ToolCall:
    """One tool invocation, announced by an ``agent_action``."""

    tool: str
    tool_input: Any
    output: str
    duration_ms: tuple[int, int]
    logs: tuple[LogLine, ...] = ()


@dataclass(frozen=True)
class Billing:
    """The agent charges a customer (through Stripe) for the work of this run."""

    customer: str
    currency: str
    amount: Decimal
    description: str

    tool = "stripe.create_charge"


Step = LogLine | LLMCall | ToolCall | Billing


@dataclass(frozen=True)
class Script:
    """What a run does when all goes well, and what it returns."""

    steps: list[Step]
    outputs: dict[str, Any]


def _step_key(step: Step) -> str | None:
    """The name a crash kind uses to say where it strikes: a tool or an LLM purpose."""
    if isinstance(step, ToolCall | Billing):
        return step.tool
    if isinstance(step, LLMCall):
        return step.purpose
    return None


def _http(method: str, url: str, status: str = "200 OK") -> LogLine:
    return LogLine("info", f'HTTP Request: {method} {url} "HTTP/1.1 {status}"', "httpx")
