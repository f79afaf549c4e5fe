"""Protocol v1 constants, the result and error types, and the context a parse runs in."""

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Self

import msgspec

MAX_EVENT_BYTES = 1024 * 1024
MAX_REQUEST_BYTES = 10 * 1024 * 1024
MAX_NESTING = 64

EVENT_TYPES: tuple[str, ...] = (
    "run_start",
    "run_end",
    "error",
    "tool_start",
    "tool_end",
    "tool_error",
    "llm_new_token",
    "llm_call",
    "agent_action",
    "status",
    "log",
    "usage",
    "revenue",
    "artifact",
    "tool_usage",
    "state_update",
    "process_exit",
    "stream_end",
)
RUN_STATUSES: tuple[str, ...] = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
    "timed_out",
    "validating",
    "validation_failed",
    "suspended",
)
TERMINAL_STATUSES = frozenset(
    {"succeeded", "failed", "cancelled", "timed_out", "validation_failed"}
)
# A suspended run waits for a human: not finished, but settled like a finished one, so a
# later progress message does not set it back to running and it is never called stalled.
SETTLED_STATUSES = TERMINAL_STATUSES | {"suspended"}
OUTPUT_FORMATS: tuple[str, ...] = ("markdown", "json", "rich_component", "text")
LOG_LEVELS: tuple[str, ...] = ("debug", "info", "warning", "error", "critical")
LOG_STREAMS: tuple[str, ...] = ("stdout", "stderr")
ENVIRONMENTS: tuple[str, ...] = ("local", "cloud", "docker")
REVENUE_KINDS: tuple[str, ...] = ("charge", "refund", "credit", "payout", "subscription")

_FUTURE_SLACK = timedelta(hours=24)


class Event(msgspec.Struct, frozen=True):
    """One validated event; `data` holds the normalized type-specific fields.

    A msgspec Struct rather than a dataclass: every event is built once on receipt and
    once more in the worker, and a frozen dataclass costs ten times more to build."""

    event_id: str
    run_id: str
    type: str
    ts: datetime
    seq: int | None
    agent_name: str | None
    agent_version: str | None
    data: dict


@dataclass(frozen=True, slots=True)
class Rejection:
    """An event refused by itself: `index` is its line (NDJSON, text) or array index."""

    index: int
    error: str


@dataclass
class ParseResult:
    events: list[Event]
    rejected: list[Rejection]
    noted: list[Rejection] = field(default_factory=list)  # kept, as log lines, and why


class BodyError(Exception):
    """The request as a whole is refused (HTTP `status` 400, 413 or 415)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class EventError(ValueError):
    """One event is invalid; the message names the field and what was wrong."""


class _JsonReader:
    """A JSON decoder that notes non-finite numbers (NaN, Infinity, 1e999) it lets through."""

    __slots__ = ("decoder", "non_finite")

    def __init__(self) -> None:
        self.non_finite = False
        self.decoder = json.JSONDecoder(parse_float=self._float, parse_constant=self._constant)

    def _float(self, text: str) -> float:
        value = float(text)
        if value - value != 0.0:
            self.non_finite = True
        return value

    def _constant(self, text: str) -> float:
        self.non_finite = True
        return float(text)


@dataclass(slots=True)
class _Context:
    latest_ts: datetime
    latest_epoch: float
    default_run_id: str | None
    reader: _JsonReader
    bad_utf8: str | None = None

    @classmethod
    def at(cls, now: datetime, default_run_id: str | None = None) -> Self:
        latest = now + _FUTURE_SLACK
        return cls(latest, latest.timestamp(), default_run_id, _JsonReader())
