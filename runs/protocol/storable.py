"""Storable and size checks: what JSON or PostgreSQL could not hold is refused per event.

No NaN or Infinity, no NUL character, no unpaired surrogate, nesting at most
`MAX_NESTING` deep, compact JSON at most `MAX_EVENT_BYTES`. Any of those would make
PostgreSQL refuse the whole batch later, in the worker.
"""

import json
import math

from runs.protocol.codec import _COMPACT
from runs.protocol.describe import _show
from runs.protocol.types import MAX_EVENT_BYTES, MAX_NESTING, EventError


def _has_risky_escapes(text: str) -> bool:
    return "\\u0000" in text or "\\ud" in text or "\\uD" in text


def _needs_deep_check(text: str, start: int, end: int, risky_escapes: bool) -> bool:
    """Whether the source text could hide something unstorable; cheap, may say yes wrongly."""
    if text.count("{", start, end) + text.count("[", start, end) > MAX_NESTING:
        return True
    return risky_escapes and (
        text.find("\\u0000", start, end) >= 0
        or text.find("\\ud", start, end) >= 0
        or text.find("\\uD", start, end) >= 0
    )


def _check_storable(value: object) -> None:
    problem = _unstorable(value, "", 0)
    if problem:
        raise EventError(problem)


def _unstorable(value: object, path: str, depth: int) -> str | None:
    """The first part of `value` that JSON or PostgreSQL cannot hold, described; or None."""
    kind = type(value)
    if kind is str:
        return _unstorable_string(value, path or "event")
    if kind is dict or kind is list:
        if depth > MAX_NESTING:
            return f"{path or 'event'}: nested more than {MAX_NESTING} levels deep"
        if kind is list:
            for position, item in enumerate(value):
                problem = _unstorable(item, f"{path}[{position}]", depth + 1)
                if problem:
                    return problem
            return None
        for key, item in value.items():
            if type(key) is not str:
                where = f"{path}.{key}" if path else str(key)
                return f"{where}: object keys must be strings, got {type(key).__name__}"
            item_path = _key_path(path, key)
            problem = _unstorable_string(key, item_path + " (key)") or _unstorable(
                item, item_path, depth + 1
            )
            if problem:
                return problem
        return None
    if kind is float:
        if math.isfinite(value):
            return None
        return f"{path or 'event'}: expected a finite number, got {_show(value)}"
    if kind is int or kind is bool or value is None:
        return None
    return f"{path or 'event'}: expected a JSON value, got {kind.__name__}"


def _key_path(path: str, key: str) -> str:
    # A key that is not plain text is shown as JSON: the message is stored and shown,
    # so it must hold no NUL nor lone surrogate itself, and a blank key must be visible.
    shown = key if key and key.isprintable() and key.strip() == key else json.dumps(key)[:80]
    return f"{path}.{shown}" if path else shown


def _unstorable_string(text: str, path: str) -> str | None:
    if "\x00" in text:
        return f"{path}: string contains a NUL character (\\u0000), which cannot be stored"
    if not _is_valid_unicode(text):
        return f"{path}: string contains an unpaired UTF-16 surrogate, which is not valid Unicode"
    return None


def _check_size(value: object) -> None:
    size = len(_COMPACT.encode(value).encode())
    if size > MAX_EVENT_BYTES:
        raise EventError(f"event is {size:,} bytes; the limit is {MAX_EVENT_BYTES:,}")


def _is_valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
