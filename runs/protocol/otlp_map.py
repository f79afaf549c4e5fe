"""OpenTelemetry spans as protocol v1 events: a trace is a run.

Both conventions agents use are read: OpenInference (`openinference.span.kind`,
`input.value`, `llm.*`, `tool.*`; Phoenix, Arize) and the GenAI semantic conventions
(`gen_ai.operation.name`, `gen_ai.usage.*`, `gen_ai.request.model`; OpenLLMetry and
the OpenTelemetry instrumentations). docs/otlp.md holds the table.

- The trace's root span (no parent) is the run: `run_start` at its start, and at its
  end `run_end`, or `error` when its status is ERROR. Until the root arrives, the run
  its children made stays running.
- Tool spans are tool calls (`tool_start` + `tool_end` or `tool_error`, paired by the
  span id); LLM spans are whole LLM calls (`llm_call`) with model, text and tokens.
- Other spans (chains, retrievers, ...) and handled exceptions are debug/error logs.
- Attributes not read into a field are kept on the item (`attributes`), never dropped.

Ids come from the trace and span ids and times from the span, so an export sent
again is the same events again: the event store's key drops it. Pure: no Django.
"""

import json
from datetime import UTC, datetime, timedelta

from runs.protocol.codec import _COMPACT, _format_ts
from runs.protocol.otlp import STATUS_ERROR, Span
from runs.protocol.rules import _ts_range_problem
from runs.protocol.storable import _check_storable, _needs_deep_check
from runs.protocol.types import (
    ENVIRONMENTS,
    MAX_EVENT_BYTES,
    Event,
    EventError,
    _Context,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MIN_US = (datetime(2000, 1, 1, tzinfo=UTC) - _EPOCH) // _MICROSECOND
ID_PREFIX = "ot-"

_OPENINFERENCE_KINDS = {"LLM": "llm", "EMBEDDING": "llm", "TOOL": "tool", "AGENT": "agent"}
_GENAI_OPERATIONS = {
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "embeddings": "llm",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
}
_TRACELOOP_KINDS = {"tool": "tool", "agent": "agent"}
_DEV_ENVIRONMENTS = {"dev": "local", "development": "local", "local": "local"}


def span_kind(attributes: dict) -> str:
    """llm, tool, agent or other, by OpenInference, then GenAI, then OpenLLMetry."""
    kind = attributes.get("openinference.span.kind")
    if isinstance(kind, str):
        return _OPENINFERENCE_KINDS.get(kind.upper(), "other")
    operation = attributes.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation in _GENAI_OPERATIONS:
        return _GENAI_OPERATIONS[operation]
    traceloop = attributes.get("traceloop.span.kind")
    if isinstance(traceloop, str) and traceloop in _TRACELOOP_KINDS:
        return _TRACELOOP_KINDS[traceloop]
    if "gen_ai.request.model" in attributes or "llm.model_name" in attributes:
        return "llm"
    return "other"


def spans_to_events(
    spans: list[Span], *, received_at: datetime, check_sizes: bool = True
) -> tuple[list[Event], list[str]]:
    """The events of the spans that can be taken, and a problem per span that cannot."""
    ctx = _Context.at(received_at)
    latest_us = (ctx.latest_ts - _EPOCH) // _MICROSECOND
    events: list[Event] = []
    problems: list[str] = []
    for span in spans:
        problem = span.problem or _time_problem(span, ctx, latest_us)
        if problem:
            problems.append(problem)
            continue
        made = _span_events(span)
        if check_sizes and _may_be_unstorable(span):
            problem = _storable_problem(span, made)
            if problem:
                problems.append(problem)
                continue
        events += made
    return events, problems


def _time_problem(span: Span, ctx: _Context, latest_us: int) -> str:
    if span.start_ns // 1000 < _MIN_US or span.end_ns // 1000 > latest_us:
        bad = _ts(span.start_ns) if span.start_ns // 1000 < _MIN_US else _ts(span.end_ns)
        return f"{span.where}: {_ts_range_problem(bad, ctx).removeprefix('ts: ')}"
    return ""


# An event's compact JSON is at most this many times the protobuf bytes of its span and
# resource, plus a fixed part: a string's byte is at most 6 in JSON (a control character
# becomes \u00XX), and one event holds a value at most 3 times (an answer as its text,
# its messages and its span event). Events of smaller spans are not encoded to measure.
_SIZE_FACTOR, _SIZE_FIXED = 24, 16_384


def _may_be_unstorable(span: Span) -> bool:
    """Whether the span's events must be checked one by one. Decoding protobuf leaves
    nothing unstorable (strings are valid UTF-8 and NUL-free, numbers finite, nesting
    bounded): only JSON parsed out of attributes may hold NaN, a NUL or lone surrogate
    escape, or deep nesting; and only a large span can make an event over the limit."""
    if not span.source_bytes or span.source_bytes * _SIZE_FACTOR + _SIZE_FIXED > MAX_EVENT_BYTES:
        return True
    attributes = span.attributes
    parsed = [attributes.get("gen_ai.input.messages"), attributes.get("gen_ai.output.messages")]
    for prefix in ("input", "output"):  # as `_value` parses them
        if attributes.get(f"{prefix}.mime_type") == "application/json":
            parsed.append(attributes.get(f"{prefix}.value"))
    return any(isinstance(text, str) and _risky_json(text) for text in parsed)


def _risky_json(text: str) -> bool:
    # NaN and Infinity are what json.loads takes and JSON cannot hold; the rest is the
    # native parser's own test for text that may hide something unstorable.
    return "NaN" in text or "Infinity" in text or _needs_deep_check(text, 0, len(text), True)


def _storable_problem(span: Span, events: list[Event]) -> str:
    """Why the span's events cannot be stored, as the native parser checks them: JSON
    parsed out of attributes may hold NaN, NUL, a lone surrogate or deep nesting.

    The compact JSON text, needed for the size anyway, tells in C what is surely fine;
    only data it cannot vouch for is walked value by value, for the precise message."""
    for event in events:
        try:
            text = _COMPACT.encode(event.data)  # refuses NaN and Infinity
            size = len(text.encode())  # refuses a lone surrogate
        except (ValueError, RecursionError):
            text = None
        if text is None or _needs_deep_check(text, 0, len(text), risky_escapes=True):
            try:
                _check_storable(event.data)
            except EventError as error:
                return f"{span.where}: its {event.type} data {error}"
            size = len(_COMPACT.encode(event.data).encode())
        if size > MAX_EVENT_BYTES:
            limit = f"{MAX_EVENT_BYTES:,}"
            return f"{span.where}: its {event.type} is {size:,} bytes; the limit is {limit}"
    return ""


def _ts(nanos: int) -> datetime:
    return _EPOCH + timedelta(microseconds=nanos // 1000)


def _event_id(span: Span, suffix: str) -> str:
    return f"{ID_PREFIX}{span.trace_id[:16]}{span.span_id}{suffix}"


def _span_events(span: Span) -> list[Event]:
    attributes = dict(span.attributes)
    kind = span_kind(attributes)
    events: list[Event] = []
    exceptions = [e for e in span.events if e.name == "exception"]
    error = _error_of(span, exceptions)
    root = not span.parent_span_id
    if root:
        events += _run_events(span, attributes, kind, error)
    if kind == "tool":
        events += _tool_events(span, attributes, error)
    elif kind == "llm":
        events.append(_llm_call(span, attributes, error))
    elif not root:
        events.append(_span_log(span, attributes, kind, error))
    if error is not None and (root or kind == "tool") and exceptions:
        exceptions = exceptions[:-1]  # the last is the run's or the tool's error
    # What no error event carries: exceptions handled, before the last, of other spans.
    events += _exception_logs(span, exceptions)
    return events


def _run_events(span: Span, attributes: dict, kind: str, error: dict | None) -> list[Event]:
    agent, version = _agent_of(span, attributes)
    thread = _pop_first(attributes, "session.id", "gen_ai.conversation.id")
    own = kind not in ("llm", "tool")  # else the call keeps the span's text and attributes
    inputs = _value(attributes, "input") if own else None
    outputs = _value(attributes, "output") if own else None
    if own and inputs is None:
        inputs = _genai_json(attributes, "gen_ai.input.messages")
    environment = _environment(span.resource)
    start = Event(
        _event_id(span, "r"),
        span.trace_id,
        "run_start",
        _ts(span.start_ns),
        None,
        agent,
        version,
        {
            "inputs": inputs,
            "environment": environment,
            "runtime": _runtime(span, attributes if own else {}),
            "config": {"required_env": [], "oauth": []},
            "thread_id": str(thread)[:200] if thread else None,
        },
    )
    end_ts = _ts(span.end_ns)
    if error is not None:
        end = Event(
            _event_id(span, "f"), span.trace_id, "error", end_ts, None, None, None, {"error": error}
        )
    else:
        end = Event(
            _event_id(span, "f"),
            span.trace_id,
            "run_end",
            end_ts,
            None,
            None,
            None,
            {"outputs": outputs, "format": None},
        )
    return [start, end]


def _runtime(span: Span, attributes: dict) -> dict:
    """What the run page shows under Runtime: where the trace came from, and every
    attribute of the root and its resource that no field took."""
    resource = dict(span.resource)
    runtime: dict = {"source": "otlp", "trace_id": span.trace_id, "root_span": span.name}
    for key, name in (
        ("service.name", "service"),
        ("service.version", "service_version"),
        ("telemetry.sdk.language", "sdk_language"),
    ):
        if key in resource:
            runtime[name] = resource.pop(key)
    user = _pop_first(attributes, "user.id", "enduser.id")
    if user is not None:
        runtime["user_id"] = user
    if span.scope:
        runtime["scope"] = span.scope
    _drop_kind_keys(attributes)
    if attributes:
        runtime["attributes"] = attributes
    if resource:
        runtime["resource"] = resource
    return runtime


def _agent_of(span: Span, attributes: dict) -> tuple[str, str | None]:
    name = _pop_first(attributes, "agent.name", "gen_ai.agent.name")
    service = span.resource.get("service.name")
    if not name and isinstance(service, str) and not service.startswith("unknown_service"):
        name = service
    version = span.resource.get("service.version")
    return (str(name or span.name or "otel")[:200], str(version)[:100] if version else None)


def _environment(resource: dict) -> str:
    value = resource.get("deployment.environment.name") or resource.get("deployment.environment")
    if isinstance(value, str):
        value = value.lower()
        if value in ENVIRONMENTS:
            return value
        return _DEV_ENVIRONMENTS.get(value, "cloud")
    return "cloud"


def _tool_events(span: Span, attributes: dict, error: dict | None) -> list[Event]:
    name = _pop_first(attributes, "tool.name", "gen_ai.tool.name") or span.name or "tool"
    name = str(name)[:200]
    tool_input = _value(attributes, "input")
    if tool_input is None:
        tool_input = _pop_first(attributes, "gen_ai.tool.call.arguments")
    output = _value(attributes, "output")
    if output is None:
        output = _pop_first(attributes, "gen_ai.tool.call.result")
    _drop_kind_keys(attributes)
    if span.events:
        attributes["events"] = _events_kept(span)
    start = Event(
        _event_id(span, "s"),
        span.trace_id,
        "tool_start",
        _ts(span.start_ns),
        None,
        None,
        None,
        {
            "tool_name": name,
            "input_str": tool_input if isinstance(tool_input, str) else _json_text(tool_input),
            "span_id": span.span_id,
            "attributes": attributes,
        },
    )
    if error is not None:
        end_type, end_data = "tool_error", {"tool_name": name, "error": error}
    else:
        end_type, end_data = "tool_end", {"tool_name": name, "output": output}
    end_data["span_id"] = span.span_id
    end = Event(
        _event_id(span, "e"), span.trace_id, end_type, _ts(span.end_ns), None, None, None, end_data
    )
    return [start, end]


def _llm_call(span: Span, attributes: dict, error: dict | None) -> Event:
    model = _pop_first(
        attributes, "llm.model_name", "gen_ai.response.model", "gen_ai.request.model"
    )
    provider = attributes.get("llm.provider") or attributes.get("gen_ai.system")
    model = str(model or provider or span.name or "unknown")[:200]
    keys = _message_keys(attributes)
    prompt = _messages(attributes, keys, "llm.input_messages.") or _messages(
        attributes, keys, "gen_ai.prompt."
    )
    if prompt is None:
        prompt = _genai_json(attributes, "gen_ai.input.messages")
    if prompt is None:
        prompt = _event_messages(
            span,
            "gen_ai.system.message",
            "gen_ai.user.message",
            "gen_ai.assistant.message",
            "gen_ai.tool.message",
        )
    answer = _messages(attributes, keys, "llm.output_messages.") or _messages(
        attributes, keys, "gen_ai.completion."
    )
    if answer is None:
        answer = _genai_json(attributes, "gen_ai.output.messages")
    if answer is None:
        answer = _event_messages(span, "gen_ai.choice")
    text = _text_of(answer)
    if prompt is None:
        prompt = _value(attributes, "input")
    else:
        _value(attributes, "input")  # the same request again, as one JSON value
    if text is None:
        output = _value(attributes, "output")
        text = output if isinstance(output, str) else _json_text(output)
    else:
        _value(attributes, "output")
    usage = _usage(attributes)
    _drop_kind_keys(attributes)
    if span.events:
        attributes["events"] = _events_kept(span)
    if answer is not None and not isinstance(answer, str):
        attributes["output_messages"] = answer
    data = {
        "call_id": f"{ID_PREFIX}{span.span_id}",
        "model": model,
        "started_at": _format_ts(_ts(span.start_ns)),
        "input": prompt,
        "output": text or "",
        **usage,
        "error": error,
        "attributes": attributes,
    }
    return Event(
        _event_id(span, "c"), span.trace_id, "llm_call", _ts(span.end_ns), None, None, None, data
    )


def _usage(attributes: dict) -> dict:
    """Token counts in Studio's convention (disjoint: see billing.pricing.Usage). Both
    OpenInference and GenAI count cached input inside the input count."""
    prompt = _count(
        attributes,
        "llm.token_count.prompt",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
    )
    output = _count(
        attributes,
        "llm.token_count.completion",
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
    )
    cache_read = _count(
        attributes,
        "llm.token_count.prompt_details.cache_read",
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
    )
    cache_write = _count(
        attributes,
        "llm.token_count.prompt_details.cache_write",
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
    )
    for key in ("llm.token_count.total", "gen_ai.usage.total_tokens"):
        attributes.pop(key, None)
    return {
        "input_tokens": max(0, prompt - cache_read - cache_write),
        "output_tokens": output,
        "cache_read_tokens": cache_read,
        "cache_write_tokens": cache_write,
    }


def _count(attributes: dict, *keys: str) -> int:
    value = _pop_first(attributes, *keys)
    if isinstance(value, bool):
        return 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    return value if isinstance(value, int) and 0 <= value < 2**62 else 0


def _span_log(span: Span, attributes: dict, kind: str, error: dict | None) -> Event:
    """A span Studio has no item for (a chain, a retriever, an agent inside the run):
    a log line, debug unless it failed, with the span and its attributes."""
    label = attributes.get("openinference.span.kind") or attributes.get("gen_ai.operation.name")
    duration = (span.end_ns - span.start_ns) / 1e6
    message = f"span {span.name} ({str(label or kind).lower()}) · {duration:,.1f} ms"
    if error is not None:
        message += f" · {error['type']}: {error['message']}"
    inputs, outputs = _value(attributes, "input"), _value(attributes, "output")
    _drop_kind_keys(attributes)
    span_info = {
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "name": span.name,
        "kind": kind,
        "duration_ms": round(duration, 3),
    }
    if inputs is not None:
        span_info["input"] = inputs
    if outputs is not None:
        span_info["output"] = outputs
    if span.events:
        attributes["events"] = _events_kept(span)
    data = {
        "message": message,
        "level": "error" if error is not None else "debug",
        "stream": "stdout",
        "logger": span.scope or "otel",
        "attributes": {"otel.span": span_info, **attributes},
    }
    return Event(
        _event_id(span, "l"), span.trace_id, "log", _ts(span.start_ns), None, None, None, data
    )


def _exception_logs(span: Span, exceptions: list) -> list[Event]:
    logs = []
    for n, exception in enumerate(exceptions):
        info = _exception_info(exception.attributes)
        message = f"{info['type']}: {info['message']}"
        if info["traceback"]:
            message += "\n" + info["traceback"]
        logs.append(
            Event(
                _event_id(span, f"x{n}"),
                span.trace_id,
                "log",
                _ts(_within(span, exception.time_ns)),
                None,
                None,
                None,
                {
                    "message": message,
                    "level": "error",
                    "stream": "stderr",
                    "logger": span.name[:200] or "otel",
                },
            )
        )
    return logs


def _within(span: Span, time_ns: int) -> int:
    """A span event's time inside its span: an event sent without one (0) is at the end."""
    return min(max(time_ns, span.start_ns), span.end_ns) if time_ns else span.end_ns


def _error_of(span: Span, exceptions: list) -> dict | None:
    """The error a span ended with: its last recorded exception, else its status."""
    if span.status_code != STATUS_ERROR:
        return None
    if exceptions:
        return _exception_info(exceptions[-1].attributes)
    message = span.status_message or f"span {span.name} ended with status ERROR"
    return {"type": "SpanError", "message": message, "traceback": None}


def _exception_info(attributes: dict) -> dict:
    return {
        "type": str(attributes.get("exception.type") or "Exception")[:200],
        "message": str(attributes.get("exception.message") or ""),
        "traceback": str(attributes.get("exception.stacktrace") or "") or None,
    }


def _events_kept(span: Span) -> list[dict]:
    return [
        {
            "name": e.name,
            "ts": _format_ts(_ts(_within(span, e.time_ns))),
            "attributes": e.attributes,
        }
        for e in span.events
        if e.name != "exception"
    ]


# --- attribute helpers ------------------------------------------------------------


def _pop_first(attributes: dict, *keys: str):
    found = None
    for key in keys:
        value = attributes.pop(key, None)
        if found is None and value is not None and value != "":
            found = value
    return found


def _value(attributes: dict, prefix: str):
    """OpenInference's `input.value` / `output.value`, parsed when its mime type is JSON."""
    value = attributes.pop(f"{prefix}.value", None)
    mime = attributes.pop(f"{prefix}.mime_type", None)
    if isinstance(value, str) and mime == "application/json":
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def _genai_json(attributes: dict, key: str):
    value = attributes.pop(key, None)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


_MESSAGE_PREFIXES = (
    "llm.input_messages.",
    "gen_ai.prompt.",
    "llm.output_messages.",
    "gen_ai.completion.",
)


def _message_keys(attributes: dict) -> dict[str, list[str]]:
    """The keys under each prefix of flattened messages, found in one pass over the
    attributes: an LLM span holds dozens, and there are four prefixes to look for."""
    found: dict[str, list[str]] = {}
    for key in attributes:
        if key.startswith(_MESSAGE_PREFIXES):
            prefix = next(p for p in _MESSAGE_PREFIXES if key.startswith(p))
            found.setdefault(prefix, []).append(key)
    return found


def _messages(attributes: dict, keys: dict[str, list[str]], prefix: str) -> list[dict] | None:
    """Flattened messages (`llm.input_messages.0.message.role`, `gen_ai.prompt.0.content`)
    as a list of {role, content, ...}, in index order; the keys are taken out. `keys` are
    `_message_keys` of the attributes."""
    found: dict[int, dict] = {}
    for key in keys.get(prefix, ()):
        index, _, rest = key[len(prefix) :].partition(".")
        if not index.isdigit():
            continue
        value = attributes.pop(key)
        rest = rest.removeprefix("message.")
        found.setdefault(int(index), {})[rest] = value
    if not found:
        return None
    return [found[i] for i in sorted(found)]


def _event_messages(span: Span, *names: str) -> list[dict] | None:
    messages = []
    for event in span.events:
        if event.name in names:
            message = dict(event.attributes)
            message.setdefault("role", event.name.removeprefix("gen_ai.").removesuffix(".message"))
            messages.append(message)
    return messages or None


def _text_of(answer) -> str | None:
    """The text of an answer: its messages' contents, joined."""
    if answer is None:
        return None
    if isinstance(answer, str):
        return answer
    parts = []
    for message in answer if isinstance(answer, list) else [answer]:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if content is None and isinstance(message.get("message"), dict | str):
            inner = message["message"]
            content = inner.get("content") if isinstance(inner, dict) else inner
        if isinstance(content, str):
            parts.append(content)
        pieces = message.get("parts")
        for part in pieces if isinstance(pieces, list) else []:
            if isinstance(part, dict) and isinstance(part.get("content"), str):
                parts.append(part["content"])
        for key in sorted(k for k in message if k.startswith("contents.")):
            if key.endswith(".text") and isinstance(message[key], str):
                parts.append(message[key])
    return "".join(parts) if parts else None


def _drop_kind_keys(attributes: dict) -> None:
    # Read into the item's kind; not shown again among its attributes.
    attributes.pop("openinference.span.kind", None)


def _json_text(value) -> str:
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
