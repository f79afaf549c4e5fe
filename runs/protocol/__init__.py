"""Event protocol v1: turn an ingest request body into validated `Event`s.

Pure Python, no Django, no database. The ingest view and the `ingest` command call
`parse_body`; the stored batch is written with `dumps_events` and read back by the
worker with `loads_events`. DESIGN.md sections 2 and 3 are the contract.

Beyond the contract, an accepted event is guaranteed storable: no NaN or Infinity,
no NUL character, no unpaired surrogate, nesting at most `MAX_NESTING` deep. Any of
those would make PostgreSQL refuse the whole batch later, in the worker.
"""

from runs.protocol.body import _JSON_TYPES as _JSON_TYPES
from runs.protocol.body import _NDJSON_TYPES as _NDJSON_TYPES
from runs.protocol.body import parse_body
from runs.protocol.codec import dumps_events, event_from_dict, event_to_dict, loads_events
from runs.protocol.events import validate_event
from runs.protocol.types import (
    ENVIRONMENTS,
    EVENT_TYPES,
    LOG_LEVELS,
    LOG_STREAMS,
    MAX_EVENT_BYTES,
    MAX_NESTING,
    MAX_REQUEST_BYTES,
    OUTPUT_FORMATS,
    REVENUE_KINDS,
    RUN_STATUSES,
    SETTLED_STATUSES,
    TERMINAL_STATUSES,
    BodyError,
    Event,
    EventError,
    ParseResult,
    Rejection,
)

__all__ = [
    "ENVIRONMENTS",
    "EVENT_TYPES",
    "LOG_LEVELS",
    "LOG_STREAMS",
    "MAX_EVENT_BYTES",
    "MAX_NESTING",
    "MAX_REQUEST_BYTES",
    "OUTPUT_FORMATS",
    "REVENUE_KINDS",
    "RUN_STATUSES",
    "SETTLED_STATUSES",
    "TERMINAL_STATUSES",
    "BodyError",
    "Event",
    "EventError",
    "ParseResult",
    "Rejection",
    "dumps_events",
    "event_from_dict",
    "event_to_dict",
    "loads_events",
    "parse_body",
    "validate_event",
]
