"""The OpenAPI 3.1 description of the HTTP API, written by hand as a plain dict.

It follows what the code does, not only what DESIGN.md says: the event schemas come
from `runs.protocol` (limits, enums, what may be null), the run and event schemas from
`runs.serializers`. `tests/api/test_openapi.py` checks the document is valid OpenAPI,
that every `/api/v1/` URL is in it, and that real responses match it.

Served at `GET /api/v1/openapi.json` by `runs.views.openapi`.
"""

from billing.currencies import CODES as CURRENCY_CODES
from billing.currencies import MINOR_UNITS
from runs.protocol import (
    _JSON_TYPES,
    _NDJSON_TYPES,
    ENVIRONMENTS,
    EVENT_TYPES,
    MAX_EVENT_BYTES,
    MAX_NESTING,
    MAX_REQUEST_BYTES,
    OUTPUT_FORMATS,
    RUN_STATUSES,
)
from runs.protocol.schema import EVENT_DATA_TYPES, case_insensitive_pattern, data_schemas
from runs.selectors.runs import MAX_PAGE, SORTS

API_VERSION = "1.0.0"
STORED_EVENT_TYPES = tuple(t for t in EVENT_TYPES if t != "llm_new_token")
STATUS_SETTING_TYPES = ("run_start", "status", "run_end", "error", "process_exit", "stream_end")
MAX_INT = 2**63 - 1
RUNS_PAGE_DEFAULT = 50
EVENTS_PAGE_DEFAULT, EVENTS_PAGE_MAX = 500, 5000


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict) -> dict:
    """`schema` or null. Optional protocol fields treat null like absent."""
    if "$ref" in schema:
        return {"oneOf": [schema, {"type": "null"}]}
    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    if "enum" in schema:
        return {**schema, "enum": [*schema["enum"], None]}
    return {"oneOf": [schema, {"type": "null"}]}


def _string(min_len: int = 0, max_len: int | None = None, **extra) -> dict:
    schema: dict = {"type": "string", **extra}
    if min_len:
        schema["minLength"] = min_len
    if max_len is not None:
        schema["maxLength"] = max_len
    return schema


def _count(**extra) -> dict:
    return {"type": "integer", "minimum": 0, "maximum": MAX_INT, **extra}


def _object(properties: dict, required: tuple[str, ...] = (), *, closed: bool = True, **extra):
    schema: dict = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return {**schema, **extra}


def _currency_pattern(codes) -> str:
    return case_insensitive_pattern(tuple(code.lower() for code in codes))


def _amounts_in_minor_units() -> list[dict]:
    """Per number of minor units: an amount in those currencies has no more decimals
    (trailing zeros aside, 6 places in all at most)."""
    by_units: dict[int, list[str]] = {}
    for code in CURRENCY_CODES:
        by_units.setdefault(MINOR_UNITS[code], []).append(code)
    rules = []
    for units, codes in sorted(by_units.items()):
        places = r"\.0{1,6}" if units == 0 else rf"\.[0-9]{{1,{units}}}0{{0,{6 - units}}}"
        rules.append(
            {
                "if": {
                    "properties": {"currency": {"pattern": _currency_pattern(codes)}},
                    "required": ["currency"],
                },
                "then": {"properties": {"amount": {"pattern": rf"^0*[0-9]{{1,12}}({places})?$"}}},
            }
        )
    return rules


ANY_JSON = {"description": "Any JSON value."}
TIMESTAMP = _string(
    format="date-time",
    description="RFC 3339, UTC, written with a `Z` (microseconds when not zero).",
    examples=["2026-11-25T11:24:41.123456Z"],
)
DECIMAL = _string(
    pattern=r"^[0-9]+(\.[0-9]+)?$",
    description="A non-negative decimal as a string (money is never a float).",
    examples=["0.0095000000"],
)
SIGNED_DECIMAL = _string(pattern=r"^-?[0-9]+(\.[0-9]+)?$", examples=["12.50", "-3.00"])


# Events: the protocol (DESIGN.md section 2) ---------------------------------------------

# Per type: the `data` object, from the protocol's Structs (runs.protocol.schema).
# Unknown fields are accepted and dropped; the stored form (what the events endpoint
# returns) holds every field listed, null when absent.
_DATA_SCHEMAS = data_schemas("#/components/schemas/{name}")
EVENT_DATA: dict[str, dict] = {
    event_type: _DATA_SCHEMAS[data_type.__name__]
    for event_type, data_type in EVENT_DATA_TYPES.items()
}
EVENT_DATA["revenue"]["allOf"] = _amounts_in_minor_units()


_EVENT_COMMON = _object(
    {
        "v": {
            "type": "integer",
            "const": 1,
            "default": 1,
            "description": "Protocol version; absent means 1, any other value is rejected.",
        },
        "event_id": _string(
            1,
            64,
            description="Unique per project: the idempotency key. A re-sent event is "
            "ignored, never counted twice. Optional in text/plain bodies (derived from the "
            "line).",
        ),
        "run_id": _string(
            1,
            128,
            description="Chosen by the runner, unique per project. May be left out when the "
            "request has an X-Charm-Run-Id header.",
        ),
        "seq": _nullable(
            _count(description="Per-run counter from the emitter; orders events sharing a ts.")
        ),
        "ts": {
            "oneOf": [
                _string(format="date-time", description="RFC 3339 with a UTC offset or Z."),
                {"type": "number", "minimum": 946684800, "description": "Unix epoch seconds."},
            ],
            "description": "From 2000-01-01 to 24 hours past the server's clock.",
        },
        "type": {"enum": list(EVENT_TYPES)},
        "agent": _nullable(_ref("Agent")),
        "data": _nullable({"type": "object"}),
    },
    ("event_id", "run_id", "ts", "type"),
    closed=False,
    description=(
        f"One event as sent. An event is at most {MAX_EVENT_BYTES:,} bytes as JSON, nests "
        f"at most {MAX_NESTING} levels, and holds no NaN, Infinity, NUL character or "
        "unpaired surrogate. Unknown fields are ignored."
    ),
)


def _event_schema(event_type: str) -> dict:
    data = _ref(_data_name(event_type))
    branch = _object(
        {
            "type": {"const": event_type},
            "data": data if event_type in _DATA_REQUIRED else _nullable(data),
        },
        ("type", "data") if event_type in _DATA_REQUIRED else ("type",),
        closed=False,
    )
    if event_type == "run_start":
        branch["required"].append("agent")
        branch["properties"]["agent"] = _ref("Agent")
    return {"allOf": [_ref("EventCommon"), branch]}


# Types whose data has required fields: the data object cannot be left out.
_DATA_REQUIRED = {t for t, schema in EVENT_DATA.items() if schema.get("required")}


def _data_name(event_type: str) -> str:
    return "".join(part.title() for part in event_type.split("_")) + "Data"


def _event_name(event_type: str) -> str:
    return "".join(part.title() for part in event_type.split("_")) + "Event"


def _discriminated(types: tuple[str, ...], name_of) -> dict:
    return {
        "oneOf": [_ref(name_of(t)) for t in types],
        "discriminator": {
            "propertyName": "type",
            "mapping": {t: f"#/components/schemas/{name_of(t)}" for t in types},
        },
    }


_STORED_EVENT_COMMON = _object(
    {
        "event_id": _string(1, 64),
        "run_id": _string(1, 128),
        "seq": _nullable(_count()),
        "ts": TIMESTAMP,
        "type": {"enum": list(STORED_EVENT_TYPES)},
        "agent": _object(
            {"name": _string(1, 200), "version": _nullable(_string(0, 100))},
            ("name", "version"),
            description="Present only when the event carried an agent.",
        ),
        "data": {"type": "object"},
    },
    ("event_id", "run_id", "seq", "ts", "type", "data"),
)


def _stored_event_schema(event_type: str) -> dict:
    return {
        "allOf": [
            _ref("StoredEventCommon"),
            {
                "type": "object",
                "properties": {
                    "type": {"const": event_type},
                    "data": _ref(_data_name(event_type)),
                },
            },
        ]
    }


def _stored_event_name(event_type: str) -> str:
    return "Stored" + _event_name(event_type)


# Runs: as runs.serializers writes them ---------------------------------------------------

_RUN_SUMMARY_PROPERTIES = {
    "run_id": _string(1, 128),
    "agent": _object(
        {"name": _string(0, 200), "version": _string(0, 100)},
        ("name", "version"),
        description="Empty strings until an event names the agent.",
    ),
    "environment": {"enum": list(ENVIRONMENTS)},
    "status": {"enum": list(RUN_STATUSES)},
    "status_message": _string(),
    "stalled": {
        "type": "boolean",
        "description": "Still running but silent for too long (flagged by the pipeline).",
    },
    "started_at": TIMESTAMP,
    "ended_at": _nullable(TIMESTAMP),
    "last_event_at": TIMESTAMP,
    "duration_ms": _nullable({"type": "integer", "minimum": 0}),
    "events": _count(description="Events of the run, streamed tokens included."),
    "tool_calls": _count(),
    "tool_errors": _count(),
    "tokens": _object(
        {
            "streamed": _count(description="llm_new_token events received."),
            "input": _count(),
            "output": _count(),
            "cache_read": _count(),
            "cache_write": _count(),
        },
        ("streamed", "input", "output", "cache_read", "cache_write"),
    ),
    "cost": _object(
        {
            "amount": DECIMAL,
            "currency": {"const": "USD"},
            "unpriced_calls": _count(
                description="LLM calls with no price for their model: the amount leaves them out."
            ),
        },
        ("amount", "currency", "unpriced_calls"),
    ),
    "revenue": {
        "type": "object",
        "propertyNames": {"pattern": "^[A-Z]{3}$"},
        "additionalProperties": SIGNED_DECIMAL,
        "description": "Net revenue per currency (charges + subscriptions − refunds − "
        "credits); currencies are never summed together.",
        "examples": [{"USD": "12.50"}],
    },
    "error": _nullable(
        _object(
            {"type": _string(1, 200), "message": _string()},
            ("type", "message"),
            description="The error that ended the run.",
        )
    ),
    "exit_code": _nullable(
        {"type": "integer", "description": "The process's exit code, when the runner sent it."}
    ),
    "thread_id": _nullable(
        _string(0, 200, description="A suspended run's thread: runs of one thread are linked.")
    ),
    "tool_usage": {
        "type": "object",
        "additionalProperties": {"type": "integer", "minimum": 0},
        "description": "Billable uses per tool.",
        "examples": [{"get_weather": 2}],
    },
}

_RUN_SUMMARY = _object(
    {
        **_RUN_SUMMARY_PROPERTIES,
        "llm_calls": _count(description="Number of LLM calls."),
    },
    (*_RUN_SUMMARY_PROPERTIES, "llm_calls"),
)

_RUN_DETAIL = _object(
    {
        **_RUN_SUMMARY_PROPERTIES,
        "llm_calls": {
            "type": "array",
            "items": _ref("LlmCall"),
            "description": "The LLM calls, by first token or start (in the summary: their number).",
        },
        "inputs": ANY_JSON,
        "outputs": ANY_JSON,
        "runtime": {"type": "object"},
        "config": _object(
            {
                "required_env": {"type": "array", "items": _string()},
                "oauth": {"type": "array", "items": _string()},
            },
        ),
        "output_format": _nullable({"enum": list(OUTPUT_FORMATS)}),
        "next_step": _nullable(_string()),
        "state": {**ANY_JSON, "description": "The agent's latest state snapshot."},
        "artifacts": {
            "type": "array",
            "items": _object(
                {
                    "name": _string(1, 500),
                    "url": _nullable(_string()),
                    "mime": _nullable(_string()),
                    "ts": TIMESTAMP,
                },
                ("name", "url", "mime", "ts"),
            ),
            "description": "Files the agent produced, by time (at most 200).",
        },
        "status_history": {
            "type": "array",
            "items": _ref("StatusChange"),
            "description": "Status-setting events in order (ts, seq, event_id), at most 1,000.",
        },
        "tool_spans": {
            "type": "array",
            "items": _ref("ToolSpan"),
            "description": "By start time.",
        },
        "errors": {"type": "array", "items": _ref("RunError"), "description": "By time."},
    },
    (
        *_RUN_SUMMARY_PROPERTIES,
        "llm_calls",
        "inputs",
        "outputs",
        "runtime",
        "config",
        "output_format",
        "next_step",
        "state",
        "artifacts",
        "status_history",
        "tool_spans",
        "errors",
    ),
)

_STATUS_CHANGE = _object(
    {
        "status": {"enum": list(RUN_STATUSES)},
        "message": _string(description="The status message, or `Type: message` of an error."),
        "ts": TIMESTAMP,
        "event_id": _string(1, 64),
        "type": {"enum": list(STATUS_SETTING_TYPES)},
    },
    ("status", "message", "ts", "event_id", "type"),
)

_TOOL_SPAN = _object(
    {
        "span_key": _string(1),
        "tool_name": _string(1, 200),
        "status": {
            "enum": ["ok", "error", "open", "abandoned"],
            "description": "abandoned: still open when the run ended.",
        },
        "started_at": _nullable(TIMESTAMP),
        "ended_at": _nullable(TIMESTAMP),
        "duration_ms": _nullable({"type": "integer"}),
        "input_str": _string(),
        "output": ANY_JSON,
        "error": _nullable(_ref("ErrorInfo")),
        "attributes": {
            "type": "object",
            "description": "What the tool's start carried beyond the protocol's fields.",
        },
    },
    (
        "span_key",
        "tool_name",
        "status",
        "started_at",
        "ended_at",
        "duration_ms",
        "input_str",
        "output",
        "error",
        "attributes",
    ),
)

_LLM_CALL = _object(
    {
        "call_id": _string(1),
        "model": _string(0, 200),
        "token_count": _count(description="Streamed token events."),
        "started_at": _nullable(
            {**TIMESTAMP, "description": "When a call told whole (`llm_call`) was sent."}
        ),
        "ended_at": _nullable(TIMESTAMP),
        "first_token_at": _nullable(TIMESTAMP),
        "last_token_at": _nullable(TIMESTAMP),
        "tokens_per_second": _nullable(
            {"type": "number", "minimum": 0, "description": "Rounded to 2 places."}
        ),
        "stalls": {
            "type": "array",
            "items": _object(
                {"after_index": _count(), "gap_ms": _count()},
                ("after_index", "gap_ms"),
                description="A pause in the stream after token `after_index`.",
            ),
        },
        "input": {"description": "What the model was sent, when the call told it."},
        "text": _string(),
        "error": _nullable(_ref("ErrorInfo")),
        "attributes": {"type": "object", "description": "The rest the call carried."},
        "usage": _object(
            {
                "input_tokens": _count(),
                "output_tokens": _count(),
                "cache_read_tokens": _count(),
                "cache_write_tokens": _count(),
            },
            ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"),
        ),
        "cost": _nullable({**DECIMAL, "description": "USD; null when the call is unpriced."}),
        "priced": {"type": "boolean"},
    },
    (
        "call_id",
        "model",
        "token_count",
        "started_at",
        "ended_at",
        "first_token_at",
        "last_token_at",
        "tokens_per_second",
        "stalls",
        "input",
        "text",
        "error",
        "attributes",
        "usage",
        "cost",
        "priced",
    ),
)

_RUN_ERROR = _object(
    {
        "type": _string(1, 200),
        "title": _string(),
        "group_fingerprint": _string(1),
        "ts": TIMESTAMP,
        "event_id": _string(1, 64),
    },
    ("type", "title", "group_fingerprint", "ts", "event_id"),
    description="An error event of the run (a crash or a tool error) and its error group.",
)

_CURSOR = _nullable(
    _string(1, description="Pass as `cursor` for the next page; null on the last page.")
)

_HEALTH_CHECK = _object(
    {
        "ok": {"type": "boolean"},
        "ms": {"type": "number", "minimum": 0},
        "queue": _count(description="Tasks waiting in the broker's queue."),
        "error": _string(),
    },
    ("ok",),
)

SCHEMAS: dict[str, dict] = {
    "OtlpStatus": _object(
        {
            "code": {"type": "integer", "description": "A google.rpc.Code."},
            "message": _string(description="What was wrong."),
        },
        ("code", "message"),
        description="A google.rpc.Status, in its JSON form.",
    ),
    "OtlpExportResponse": _object(
        {
            "partialSuccess": _object(
                {
                    "rejectedSpans": _string(
                        pattern="^[0-9]+$", description="An int64, as OTLP/JSON writes it."
                    ),
                    "errorMessage": _string(),
                },
                ("rejectedSpans", "errorMessage"),
                description="Present when spans were refused: how many, and why.",
            )
        },
        description="An ExportTraceServiceResponse, in its JSON form.",
    ),
    "Error": _object(
        {"error": _string(1, description="What was wrong, naming the parameter or field.")},
        ("error",),
    ),
    "Rejection": _object(
        {
            "index": _count(
                description="The event's line (NDJSON, text/plain; 0-based, blank lines "
                "counted) or its index in the array."
            ),
            "error": _string(1, description="The field and what was wrong with it."),
        },
        ("index", "error"),
    ),
    "IngestAccepted": _object(
        {
            "accepted": _count(description="Events stored (durably) for applying."),
            "rejected": {"type": "array", "items": _ref("Rejection")},
            "noted": {
                "type": "array",
                "items": _ref("Rejection"),
                "description": "Charm streams only: lines kept as log lines, and why (a "
                "broken event line, an unknown Charm type). Absent when there are none.",
            },
        },
        ("accepted", "rejected"),
    ),
    "ValidationReport": _object(
        {
            "id": {"type": "integer"},
            "agent": _string(1, 200),
            "passed": {"type": "boolean", "description": "No line failed (✖)."},
            "errors": _count(),
            "warnings": _count(),
            "lines": {
                "type": "array",
                "items": _object(
                    {"level": {"enum": ["error", "warning", "ok", "info"]}, "text": _string()},
                    ("level", "text"),
                ),
            },
        },
        ("id", "agent", "passed", "errors", "warnings", "lines"),
    ),
    "Agent": _object(
        {"name": _string(1, 200), "version": _nullable(_string(0, 100))},
        ("name",),
        closed=False,
        examples=[{"name": "invoice-bot", "version": "1.4.0"}],
    ),
    **{name: schema for name, schema in _DATA_SCHEMAS.items() if not name.endswith("Data")},
    "EventCommon": _EVENT_COMMON,
    **{_data_name(t): schema for t, schema in EVENT_DATA.items()},
    **{_event_name(t): _event_schema(t) for t in EVENT_TYPES},
    "Event": {
        **_discriminated(EVENT_TYPES, _event_name),
        "description": "One protocol v1 event, by `type`.",
    },
    "EventEnvelope": _object({"events": {"type": "array", "items": _ref("Event")}}, ("events",)),
    "StoredEventCommon": _STORED_EVENT_COMMON,
    **{_stored_event_name(t): _stored_event_schema(t) for t in STORED_EVENT_TYPES},
    "StoredEvent": {
        **_discriminated(STORED_EVENT_TYPES, _stored_event_name),
        "description": "An event as stored: `data` normalized (every field of the type "
        "present, null when absent), the agent beside it.",
    },
    "EventsPage": _object(
        {
            "events": {"type": "array", "items": _ref("StoredEvent")},
            "next_cursor": _CURSOR,
            "events_purged_before": _nullable(
                _string(
                    format="date-time",
                    description="The project's retention removed this run's events before "
                    "this time; its summary, LLM calls, tool calls and errors are kept. "
                    "Null when none of the run's events were removed.",
                )
            ),
        },
        ("events", "next_cursor", "events_purged_before"),
    ),
    "RunSummary": _RUN_SUMMARY,
    "RunDetail": _RUN_DETAIL,
    "RunsPage": _object(
        {"runs": {"type": "array", "items": _ref("RunSummary")}, "next_cursor": _CURSOR},
        ("runs", "next_cursor"),
    ),
    "StatusChange": _STATUS_CHANGE,
    "ToolSpan": _TOOL_SPAN,
    "LlmCall": _LLM_CALL,
    "RunError": _RUN_ERROR,
    "Health": _object(
        {
            "ok": {"type": "boolean", "description": "Database and broker both reachable."},
            "database": _HEALTH_CHECK,
            "broker": _HEALTH_CHECK,
            "pipeline": {
                "oneOf": [
                    _object(
                        {
                            "pending_batches": _count(),
                            "oldest_pending_seconds": {"type": "number", "minimum": 0},
                            "failed_batches": _count(),
                        },
                        ("pending_batches", "oldest_pending_seconds", "failed_batches"),
                    ),
                    _object({"error": _string()}, ("error",)),
                ]
            },
        },
        ("ok",),
    ),
}


# Paths -------------------------------------------------------------------------------------


def _error_response(description: str, *, retry_after: bool = False) -> dict:
    response: dict = {
        "description": description,
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    if retry_after:
        response["headers"] = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}
    return response


def _json_response(description: str, schema_name: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref(schema_name)}},
    }


RESPONSES = {
    "BadRequest": _error_response("A parameter is invalid; the message names it."),
    "Unauthorized": _error_response(
        "No Authorization header, not `Bearer <key>`, an unknown key or a revoked one."
    ),
    "Forbidden": _error_response("The key lacks the scope this operation needs."),
    "NotFound": _error_response("No run with this id in the key's project."),
    "Unavailable": _error_response(
        "The database is unavailable; try again after Retry-After seconds.", retry_after=True
    ),
}

_RUN_ID_PARAM = {
    "name": "run_id",
    "in": "path",
    "required": True,
    "description": (
        "The run's id as the runner chose it, percent-encoded; a `/` in it may be sent as "
        "it is. `.../events` names the events of the run before it; when no such run exists, "
        "the run whose id ends in `/events`."
    ),
    "schema": _string(1, 128),
}


def _limit_param(default: int, maximum: int) -> dict:
    return {
        "name": "limit",
        "in": "query",
        "description": f"Page size. Anything but a whole number from 1 to {maximum} is a 400.",
        "schema": {"type": "integer", "minimum": 1, "maximum": maximum, "default": default},
    }


_CURSOR_PARAM = {
    "name": "cursor",
    "in": "query",
    "description": "The `next_cursor` of the previous page, with the same filters. Pages are "
    "keyset-based: stable while new data arrives. An unknown cursor is a 400.",
    "schema": _string(1),
}

_TIME_PARAM_TEXT = (
    "An RFC 3339 time (an offset-less time is UTC) or an age before now: a number and `m`, "
    "`h` or `d`, like 30m, 24h, 7d."
)

_RUNS_PARAMS = [
    {
        "name": "thread",
        "in": "query",
        "description": "Runs of one thread: a suspended run and the runs that resumed it.",
        "schema": _string(0, 200),
    },
    {
        "name": "status",
        "in": "query",
        "description": "Runs with any of these statuses, comma-separated (the parameter may "
        "also repeat). `stalled` selects stalled runs whatever their status.",
        "style": "form",
        "explode": False,
        "schema": {"type": "array", "items": {"enum": [*RUN_STATUSES, "stalled"]}},
    },
    {
        "name": "agent",
        "in": "query",
        "description": "Exact agent name.",
        "schema": _string(),
    },
    {
        "name": "environment",
        "in": "query",
        "description": "Exact environment.",
        "schema": {"enum": list(ENVIRONMENTS)},
    },
    {
        "name": "since",
        "in": "query",
        "description": f"Runs started at or after this. {_TIME_PARAM_TEXT}",
        "schema": _string(examples=["2026-11-25T10:00:00Z", "24h"]),
    },
    {
        "name": "until",
        "in": "query",
        "description": f"Runs started before this. {_TIME_PARAM_TEXT}",
        "schema": _string(examples=["2026-11-26T00:00:00Z", "7d"]),
    },
    {
        "name": "q",
        "in": "query",
        "description": "Search run id, agent name, inputs and error type and message. Words "
        "match as prefixes and all must match ('inv tim' finds 'invoice-bot TimeoutError'); "
        "the first 8 words of the first 200 characters count.",
        "schema": _string(),
    },
    {
        "name": "sort",
        "in": "query",
        "description": "`started`: newest first. `duration`: longest first, finished runs only.",
        "schema": {"enum": list(SORTS), "default": "started"},
    },
    _limit_param(RUNS_PAGE_DEFAULT, MAX_PAGE),
    _CURSOR_PARAM,
]

_EVENTS_PARAMS = [
    _RUN_ID_PARAM,
    {
        "name": "type",
        "in": "query",
        "description": "Only events of these types, comma-separated. Streamed tokens are not "
        "stored as events: they are in the run's `llm_calls`.",
        "style": "form",
        "explode": False,
        "schema": {"type": "array", "items": {"enum": list(STORED_EVENT_TYPES)}},
    },
    _limit_param(EVENTS_PAGE_DEFAULT, EVENTS_PAGE_MAX),
    _CURSOR_PARAM,
]

_EXAMPLE_EVENT = {
    "v": 1,
    "event_id": "3f0c2a9e-5b1d-4c8e-9f3a-7d6b2e1c0a94",
    "run_id": "run_8f2a",
    "seq": 4,
    "ts": "2026-11-25T11:24:41.123456Z",
    "type": "tool_start",
    "agent": {"name": "invoice-bot", "version": "1.4.0"},
    "data": {"tool_name": "search", "input_str": "overdue invoices", "span_id": "t1"},
}

_NDJSON_BODY = {
    "schema": _string(
        description="One `Event` object per line (UTF-8). Blank lines are skipped; a line "
        "that is not a valid event is rejected by itself (its 0-based line number is the "
        "rejection's index) while the other lines are taken."
    ),
    "example": '{"v":1,"event_id":"e1","run_id":"run_8f2a","ts":"2026-11-25T11:24:41Z",'
    '"type":"run_start","agent":{"name":"invoice-bot"},"data":{"inputs":{"invoice":42}}}\n'
    '{"v":1,"event_id":"e2","run_id":"run_8f2a","ts":"2026-11-25T11:24:42Z",'
    '"type":"run_end","data":{"outputs":"done"}}\n',
}

_INGEST_BODY = {
    "required": True,
    "description": (
        f"At most {MAX_REQUEST_BYTES:,} bytes after decompression. Send "
        "`Content-Encoding: gzip` to compress. The format is told apart by content, so "
        "NDJSON labelled application/json (or any `+json` type) is read as NDJSON; no "
        "Content-Type at all is read as NDJSON. `text/plain` is a process's raw stdout: a "
        "line that is an event object (it has `type` and one of `v`, `event_id`, `run_id`) "
        "is taken as an event; every other non-blank line becomes a `log` event (stream "
        "stdout) of the run named by X-Charm-Run-Id."
    ),
    "content": {
        **{media_type: _NDJSON_BODY for media_type in sorted(_NDJSON_TYPES)},
        **{
            media_type: {
                "schema": {
                    "oneOf": [
                        {"type": "array", "items": _ref("Event")},
                        _ref("EventEnvelope"),
                        _ref("Event"),
                    ],
                    "description": 'An array of events, `{"events": [...]}`, or one event. '
                    "An invalid element is rejected by itself, by its index.",
                },
                "example": [_EXAMPLE_EVENT],
            }
            for media_type in sorted(t for t in _JSON_TYPES if t)
        },
        "text/plain": {
            "schema": _string(description="A process's stdout, line by line."),
            "example": 'booting agent\n{"type":"run_start","run_id":"run_8f2a",'
            '"agent":{"name":"invoice-bot"},"data":{}}\nfetching invoices…\n',
        },
    },
}

_INGEST = {
    "post": {
        "operationId": "ingest",
        "summary": "Send events",
        "description": (
            "Stores a batch of events and answers once it is committed to PostgreSQL: a 202 "
            "is durable. Valid events are accepted, invalid ones named in `rejected`; the "
            "batch is applied by a worker shortly after. Re-sent events (same event_id) are "
            "ignored when applied, never counted twice."
        ),
        "tags": ["ingest"],
        "security": [{"bearerKey": ["ingest"]}],
        "parameters": [
            {
                "name": "Content-Encoding",
                "in": "header",
                "description": "Send `gzip` for a gzip body (several members allowed).",
                "schema": {"enum": ["gzip", "x-gzip", "identity"]},
            },
            {
                "name": "X-Charm-Run-Id",
                "in": "header",
                "description": "The run the body belongs to. Required for text/plain; for "
                "the JSON formats it fills in the run_id of events without one.",
                "schema": _string(1, 128),
            },
        ],
        "requestBody": _INGEST_BODY,
        "responses": {
            "202": _json_response(
                "Committed: `accepted` events will be applied; `rejected` lists every "
                "invalid event with its index and the reason.",
                "IngestAccepted",
            ),
            "400": _error_response(
                "Nothing could be parsed (not JSON, not UTF-8, corrupt gzip, no event "
                "object), or text/plain without a valid X-Charm-Run-Id."
            ),
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "403": {"$ref": "#/components/responses/Forbidden"},
            "413": _error_response(
                f"The body is over {MAX_REQUEST_BYTES:,} bytes (declared, sent, or after "
                "decompression): send smaller batches."
            ),
            "415": _error_response(
                "Unsupported Content-Type or Content-Encoding; the message lists what is."
            ),
            "429": _error_response(
                "The key is over its requests-a-minute limit; retry after Retry-After seconds.",
                retry_after=True,
            ),
            "503": _error_response(
                "The store is unavailable: nothing was kept. Retry after Retry-After seconds.",
                retry_after=True,
            ),
        },
    }
}

_VALIDATIONS = {
    "post": {
        "operationId": "sendValidation",
        "summary": "Send the output of `charm validate`",
        "description": "Kept for the agent named by X-Charm-Agent; the debug checklist of a "
        "failed run shows the latest one for its agent.",
        "tags": ["ingest"],
        "security": [{"bearerKey": ["ingest"]}],
        "parameters": [
            {"name": "X-Charm-Agent", "in": "header", "required": True, "schema": _string(1, 200)},
            {
                "name": "X-Charm-Agent-Version",
                "in": "header",
                "required": False,
                "schema": _string(0, 100),
            },
        ],
        "requestBody": {
            "required": True,
            "content": {"text/plain": {"schema": {"type": "string", "maxLength": 1048576}}},
        },
        "responses": {
            "201": _json_response("Kept: its lines with their level.", "ValidationReport"),
            "400": _error_response("No X-Charm-Agent, or an empty body."),
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "403": {"$ref": "#/components/responses/Forbidden"},
            "413": _error_response("The body is over 1 MiB."),
            "415": _error_response("The body is not text/plain."),
            "503": _error_response(
                "The store is unavailable: nothing was kept. Retry after Retry-After seconds.",
                retry_after=True,
            ),
        },
    }
}


def _otlp_answer(description: str, *, retry_after: bool = False) -> dict:
    answer = {
        "description": description + " The body is a google.rpc.Status in the request's encoding.",
        "content": {
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": _ref("OtlpStatus")},
        },
    }
    if retry_after:
        answer["headers"] = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}
    return answer


_OTLP_TRACES = {
    "post": {
        "operationId": "otlpTraces",
        "summary": "Send OpenTelemetry traces (OTLP/HTTP)",
        "description": "An OTLP/HTTP `ExportTraceServiceRequest`, as any OpenTelemetry SDK or "
        "collector sends it (OpenInference and GenAI conventions): the root span of a trace "
        "becomes a run, tool spans tool calls, LLM spans LLM calls, other spans debug logs. "
        "Committed before the answer, applied by the workers; idempotent by trace and span "
        "id; spans of a trace may come in any order and in several requests. Besides "
        "`Authorization: Bearer`, the key may come as `x-api-key`, `X-Charm-Key` or "
        "`Api-Key`. `/v1/traces` is the same endpoint at a collector's default path. "
        "Mapping: docs/otlp.md.",
        "tags": ["ingest"],
        "security": [{"bearerKey": ["ingest"]}],
        "parameters": [
            {
                "name": "Content-Encoding",
                "in": "header",
                "description": "Send `gzip` for a gzip body.",
                "schema": {"enum": ["gzip", "x-gzip", "identity"]},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/x-protobuf": {
                    "schema": {
                        "type": "string",
                        "format": "binary",
                        "description": "opentelemetry.proto.collector.trace.v1."
                        "ExportTraceServiceRequest",
                    }
                },
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"resourceSpans": {"type": "array"}},
                        "description": "The OTLP/JSON encoding: hex trace and span ids, "
                        "camelCase keys (snake_case read too).",
                    }
                },
            },
        },
        "responses": {
            "200": {
                "description": "Committed. An ExportTraceServiceResponse; `partialSuccess` "
                "counts the spans refused and says why.",
                "content": {
                    "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                    "application/json": {"schema": _ref("OtlpExportResponse")},
                },
            },
            "400": _otlp_answer("Not a valid request (bad protobuf or JSON, corrupt gzip)."),
            "401": _otlp_answer("Missing, unknown or revoked key."),
            "403": _otlp_answer("The key lacks the `ingest` scope."),
            "413": _otlp_answer(f"The body is over {MAX_REQUEST_BYTES:,} bytes."),
            "415": _otlp_answer("Not application/x-protobuf or application/json."),
            "429": _otlp_answer("Over the key's requests-a-minute limit.", retry_after=True),
            "503": _otlp_answer("The store is unavailable: nothing was kept.", retry_after=True),
        },
    }
}

_READ_ERRORS = {
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "403": {"$ref": "#/components/responses/Forbidden"},
    "503": {"$ref": "#/components/responses/Unavailable"},
}

_RUNS = {
    "get": {
        "operationId": "listRuns",
        "summary": "List runs",
        "description": "Runs of the key's project, newest first or longest first, by pages.",
        "tags": ["runs"],
        "security": [{"bearerKey": ["read"]}],
        "parameters": _RUNS_PARAMS,
        "responses": {
            "200": _json_response("A page of runs.", "RunsPage"),
            "400": {"$ref": "#/components/responses/BadRequest"},
            **_READ_ERRORS,
        },
    }
}

_RUN = {
    "get": {
        "operationId": "getRun",
        "summary": "Get a run",
        "description": "A run with its inputs, outputs, status history, tool spans, LLM calls "
        "and errors.",
        "tags": ["runs"],
        "security": [{"bearerKey": ["read"]}],
        "parameters": [_RUN_ID_PARAM],
        "responses": {
            "200": _json_response("The run.", "RunDetail"),
            "404": {"$ref": "#/components/responses/NotFound"},
            **_READ_ERRORS,
        },
    }
}

_RUN_EVENTS = {
    "get": {
        "operationId": "listRunEvents",
        "summary": "List a run's events",
        "description": "The run's stored events in order (ts, then seq, then event_id), by pages.",
        "tags": ["runs"],
        "security": [{"bearerKey": ["read"]}],
        "parameters": _EVENTS_PARAMS,
        "responses": {
            "200": _json_response("A page of events.", "EventsPage"),
            "400": {"$ref": "#/components/responses/BadRequest"},
            "404": {"$ref": "#/components/responses/NotFound"},
            **_READ_ERRORS,
        },
    }
}

_OPENAPI = {
    "get": {
        "operationId": "getOpenApi",
        "summary": "This document",
        "tags": ["meta"],
        "security": [],
        "responses": {
            "200": {
                "description": "The OpenAPI 3.1 description of the API.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    }
}

_HEALTHZ = {
    "get": {
        "operationId": "health",
        "summary": "Health",
        "description": (
            'Public: only `{"ok": true|false}`. With `Authorization: Bearer <HEALTH_TOKEN>` '
            "(or `X-Health-Token`), or for a signed-in staff user, also the database and "
            "broker checks with their timings and errors, the queue depth and the pending "
            "and failed ingest batches."
        ),
        "tags": ["meta"],
        "security": [],
        "responses": {
            "200": _json_response("Database and broker reachable.", "Health"),
            "503": _json_response("The database or the broker is down.", "Health"),
        },
    }
}

DOCUMENT: dict = {
    "openapi": "3.1.0",
    "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
    "info": {
        "title": "Charm Studio API",
        "version": API_VERSION,
        "summary": "Send agent run events; read runs and their events.",
        "description": (
            "Every call but the health check and this document authenticates with a project "
            "API key: `Authorization: Bearer <key>`. A key belongs to one project and reads "
            "and writes only that project's data: another project's run is a 404. Errors "
            'are JSON: `{"error": "..."}`, naming the parameter or field at fault.'
        ),
    },
    "servers": [{"url": "/"}],
    "tags": [
        {"name": "ingest", "description": "Sending events (protocol v1)."},
        {"name": "runs", "description": "Reading runs and their events."},
        {"name": "meta", "description": "Health and this document."},
    ],
    "security": [{"bearerKey": []}],
    "paths": {
        "/api/v1/ingest": _INGEST,
        "/api/v1/validations": _VALIDATIONS,
        "/api/v1/otlp/v1/traces": _OTLP_TRACES,
        "/api/v1/runs": _RUNS,
        "/api/v1/runs/{run_id}": _RUN,
        "/api/v1/runs/{run_id}/events": _RUN_EVENTS,
        "/api/v1/openapi.json": _OPENAPI,
        "/healthz": _HEALTHZ,
        "/v1/traces": {"post": {**_OTLP_TRACES["post"], "operationId": "otlpTracesAtRoot"}},
    },
    "components": {
        "securitySchemes": {
            "bearerKey": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "chs_…",
                "description": (
                    "A project API key (`chs_` and 43 characters), made in Settings → API "
                    "keys or with `manage.py createapikey`; shown once, stored hashed, "
                    "revocable. Scopes: `ingest` (POST /api/v1/ingest) and `read` (the runs "
                    "endpoints). A missing, unknown or revoked key is a 401; a key without "
                    "the scope an operation needs is a 403."
                ),
            }
        },
        "headers": {
            "RetryAfter": {
                "description": "Seconds to wait before trying again.",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
        "responses": RESPONSES,
        "schemas": SCHEMAS,
    },
}
