"""Pure helpers: agent values made JSON-safe, errors described, events encoded as NDJSON.

Studio refuses an event that PostgreSQL could not store (NaN, NUL characters, unpaired
surrogates, deep nesting) or that is over 1 MiB, so everything is made safe here, and a
value too large is cut with a note saying how much was cut.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
import time
import traceback
from collections.abc import Mapping
from typing import Any

MAX_EVENT_BYTES = 1024 * 1024
_SAFE_EVENT_BYTES = MAX_EVENT_BYTES - 4096
MAX_TEXT = 256 * 1024
MAX_ITEMS = 10_000
MAX_DEPTH = 32
MAX_NAME = 200
MAX_TRACEBACK = 64 * 1024
# Tried in turn when an event is still too large.
_SHRINK_STEPS = ((16 * 1024, 1000), (1024, 100), (200, 10))

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_EXCEPTION_PREFIX = re.compile(
    r"^(?P<type>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
    r"(?:Error|Exception|Exit|Interrupt|Warning|Fault|Failure|Timeout))"
    r":(?:\s+(?P<message>.*))?$",
    re.DOTALL,
)


def text(value: Any, limit: int = MAX_TEXT) -> str:
    """`value` as a string of at most about `limit` characters; never raises."""
    if type(value) is not str:
        if value is None:
            return ""
        try:
            value = str(value)
        except Exception:
            value = f"<{type(value).__name__} that could not be shown>"
    if len(value) > limit:
        cut = len(value) - limit
        value = f"{value[:limit]}… [{cut} more characters cut by charm-studio-exporter]"
    return value


def name(value: Any) -> str:
    """A tool or agent name as Studio wants it: 1–200 characters."""
    return text(value, MAX_NAME)[:MAX_NAME].strip() or "unknown"


def jsonable(
    value: Any, text_limit: int = MAX_TEXT, item_limit: int = MAX_ITEMS, depth: int = 0
) -> Any:
    """A copy of `value` made of JSON types only, cut to the limits; never raises."""
    try:
        return _jsonable(value, text_limit, item_limit, depth)
    except Exception:
        return text(value, text_limit)


def _jsonable(value: Any, text_limit: int, item_limit: int, depth: int) -> Any:
    kind = type(value)
    if value is None or kind is bool or kind is int:
        return value
    if kind is str:
        return value if len(value) <= text_limit else text(value, text_limit)
    if kind is float:
        return value if math.isfinite(value) else str(value)
    if depth >= MAX_DEPTH:
        return text(value, text_limit)
    if isinstance(value, Mapping):
        items = list(value.items())
        return _jsonable_mapping(items, text_limit, item_limit, depth)
    if isinstance(value, (list, tuple, set, frozenset)):
        return _jsonable_sequence(list(value), text_limit, item_limit, depth)
    return _jsonable_other(value, text_limit, item_limit, depth)


def _jsonable_mapping(items: list, text_limit: int, item_limit: int, depth: int) -> dict:
    out = {}
    for key, item in items[:item_limit]:
        key = key if type(key) is str else text(key, MAX_NAME)
        out[key] = jsonable(item, text_limit, item_limit, depth + 1)
    if len(items) > item_limit:
        out["…"] = f"{len(items) - item_limit} more entries cut by charm-studio-exporter"
    return out


def _jsonable_sequence(items: list, text_limit: int, item_limit: int, depth: int) -> list:
    out = [jsonable(item, text_limit, item_limit, depth + 1) for item in items[:item_limit]]
    if len(items) > item_limit:
        out.append(f"… {len(items) - item_limit} more items cut by charm-studio-exporter")
    return out


def _jsonable_other(value: Any, text_limit: int, item_limit: int, depth: int) -> Any:
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _jsonable(float(value), text_limit, item_limit, depth)
    if isinstance(value, str):
        return text(str.__str__(value), text_limit)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return text(bytes(value[: text_limit * 4]).decode("utf-8", "replace"), text_limit)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    dumped = _model_dump(value)
    if dumped is not None:
        return jsonable(dumped, text_limit, item_limit, depth + 1)
    return text(value, text_limit)


def _model_dump(value: Any) -> Any:
    """A pydantic model's or a dataclass's fields (LangChain messages are pydantic)."""
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        try:
            return dump()
        except Exception:
            return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}
    return None


def error_info(error: Any) -> dict[str, str]:
    """`{type, message, traceback?}` of a raised exception (or of whatever was passed)."""
    if not isinstance(error, BaseException):
        return {"type": "Error", "message": text(error)}
    info = {"type": name(type(error).__name__), "message": text(error)}
    trace = traceback_text(error)
    if trace:
        info["traceback"] = trace
    return info


def traceback_text(error: BaseException) -> str | None:
    if getattr(error, "__traceback__", None) is None:
        return None
    try:
        lines = traceback.format_exception(type(error), error, error.__traceback__)
    except Exception:
        return None
    trace = "".join(lines)
    if len(trace) > MAX_TRACEBACK:
        # The end of a traceback (the innermost frames and the error) matters most.
        trace = "… [start cut by charm-studio-exporter]\n" + trace[-MAX_TRACEBACK:]
    return trace


def crash_info(
    error: Any, tool_error: dict[str, str] | None, declared_type: str | None
) -> dict[str, str]:
    """`{type, message, traceback?}` for on_error, whose error is often a bare
    `Exception(message)`: the type and traceback are recovered where the run shows them.

    In turn: a real exception's own; the tool error the message repeats (its type and
    traceback); a type named in the message (`"KeyError: 'x'"`); the `error_type` the
    adapter declared in the run's outputs; else `Exception`.
    """
    info = error_info(error)
    if isinstance(error, BaseException) and type(error) is not Exception:
        return info
    message = info["message"]
    if tool_error and tool_error.get("message") and _repeats(message, tool_error["message"]):
        return {**tool_error, "message": message}
    parsed = type_from_message(message)
    if parsed is not None:
        info["type"], info["message"] = parsed[0], parsed[1] or message
    elif declared_type:
        info["type"] = name(declared_type)
    elif info["type"] == "Error":
        info["type"] = "Exception"
    return info


def _repeats(message: str, tool_message: str) -> bool:
    return message == tool_message or message.endswith(": " + tool_message)


def type_from_message(message: str) -> tuple[str, str] | None:
    """`("KeyError", "'x'")` for a message like `"KeyError: 'x'"`, else None."""
    match = _EXCEPTION_PREFIX.match(message)
    if match is None:
        return None
    return match["type"][:MAX_NAME], match["message"] or ""


def output_format(outputs: Any) -> str | None:
    """How the run's answer reads, by the rule Charm's own final event uses."""
    if not isinstance(outputs, dict) or "output" not in outputs:
        return None
    answer = outputs["output"]
    if isinstance(answer, dict) and "_charm_render_type" in answer:
        return "rich_component"
    if isinstance(answer, (dict, list)):
        return "json"
    return "markdown"


class TimestampFormatter:
    """RFC 3339 UTC with microseconds and Z, from integer microseconds since 1970.

    The seconds part is kept between calls: streamed tokens mostly share it.
    """

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, micros: int) -> str:
        second, micro = divmod(micros, 1_000_000)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._prefix}.{micro:06d}Z"


def encode_event(event: dict) -> bytes:
    """One compact NDJSON line (without the newline), made storable and under 1 MiB."""
    line = _try_encode(event)
    if line is None:
        event = {**event, "data": jsonable(event["data"])}
        line = _try_encode(event) or _encode_clean(event)
    for text_limit, item_limit in _SHRINK_STEPS:
        if len(line) <= _SAFE_EVENT_BYTES:
            break
        event = {**event, "data": jsonable(event["data"], text_limit, item_limit)}
        line = _encode_clean(event)
    return line


def _try_encode(event: dict) -> bytes | None:
    """The fast path; None when the event needs cleaning first."""
    try:
        line = _encoder.encode(event)
    except (TypeError, ValueError, RecursionError):
        return None
    if "\\u0000" in line:
        return None
    try:
        return line.encode("utf-8")
    except UnicodeEncodeError:
        return None


def _encode_clean(event: dict) -> bytes:
    return _encoder.encode(_clean_strings(event)).encode("utf-8")


def _clean_strings(value: Any) -> Any:
    if type(value) is str:
        return _clean_text(value)
    if type(value) is dict:
        return {_clean_text(k): _clean_strings(v) for k, v in value.items()}
    if type(value) is list:
        return [_clean_strings(v) for v in value]
    return value


def _clean_text(value: str) -> str:
    # NUL cannot be stored; a lone surrogate is not Unicode. Both become U+FFFD.
    value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value
