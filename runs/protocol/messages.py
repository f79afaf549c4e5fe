"""What a refused event is told: a msgspec `ValidationError` read back into words.

The error names where it failed (`$.data.tool_name`); the Struct field there says what
it expects, from its annotation (type, length and range, choices) or, where the words
are special, from its own `Meta(extra={"expected": ...})` or `extra={"problem": ...}`, a
rule of `runs.protocol.rules` that explains what it finds. The value shown is the one
the sender sent, looked up by the same path.
"""

import re
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec
from msgspec import Meta, Struct

from runs.protocol.describe import _describe
from runs.protocol.rules import MISSING, _type_problem, _version_problem

_MISSING_FIELD = re.compile(r"Object missing required field `([^`]+)`")
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_MAX_INT64 = 2**63 - 1


def _problem(error: msgspec.ValidationError, obj: object, events: dict[str, type[Struct]]) -> str:
    """The message for an event `obj` that `error` refused; `events` is each type's Struct,
    told apart by the `type` tag."""
    text, _, where = str(error).rpartition(" - at `")
    if not text:  # no path: the error is about the event object itself
        text, where = where, "$`"
    steps: list[str | int] = [
        name if name else int(index) for name, index in _STEP.findall(where[1:-1])
    ]
    missing = _MISSING_FIELD.match(text)
    if missing:
        steps.append(missing.group(1))
    if not steps:
        return f"expected an event object, got {_describe(obj)}"
    if steps[0] == "type":
        version = obj.get("v", 1)
        if type(version) is not int or version != 1:  # a newer protocol's type: say why
            return f"v: {_version_problem(version)}"
        return _type_problem(obj.get("type", MISSING))
    annotation, value = events[obj["type"]], obj
    for step in steps:
        if type(step) is int:
            annotation, value = get_args(_bare(annotation)[0])[0], value[step]
        else:
            annotation = _fields(_bare(annotation)[0])[step]
            value = value.get(step, MISSING)
    return f"{_path(steps)}: {_said(annotation, value)}"


def _said(annotation: object, value: object) -> str:
    kind, metas = _bare(annotation)
    extra = {key: v for meta in metas if meta.extra for key, v in meta.extra.items()}
    expected = extra.get("expected") or _expected(kind, metas)
    if value is MISSING:
        return f"required field is missing; expected {expected}"
    problem = extra.get("problem")
    said = problem(value) if problem is not None else None
    return said or f"expected {expected}, got {_describe(value)}"


def _expected(kind: object, metas: list[Meta]) -> str:
    """A type and its constraints in words: "a string of 1–200 characters"."""
    if isinstance(kind, type) and issubclass(kind, Struct):
        return getattr(kind, "expected", "an object")
    if kind is str:
        low = max((m.min_length or 0 for m in metas), default=0)
        high = min((m.max_length for m in metas if m.max_length is not None), default=None)
        if high is not None:
            return (
                f"a string of {low}–{high} characters"
                if low
                else f"a string of at most {high} characters"
            )
        return "a non-empty string" if low else "a string"
    if kind is int:
        low = next((m.ge for m in metas if m.ge is not None), None)
        high = next((m.le for m in metas if m.le is not None), None)
        if low is None or high is None:
            return "a whole number"
        return f"a whole number from {_number(low)} to {_number(high)}"
    origin = get_origin(kind)
    if origin is Literal:
        return "one of " + ", ".join(str(choice) for choice in get_args(kind))
    if kind is dict or origin is dict:
        return "an object"
    if kind is list or origin is list:
        return "an array"
    if origin in (Union, types.UnionType):
        return " or ".join(_expected(*_bare(arm)) for arm in get_args(kind))
    if kind is float:
        return "a number"
    return "any JSON value" if kind is Any else kind.__name__


def _number(n: int) -> str:
    if n == _MAX_INT64:
        return "2^63-1"
    if n >= 1000 and str(n).strip("0") == "1":
        return f"10^{len(str(n)) - 1}"
    return str(n)


def _bare(annotation: object) -> tuple[object, list[Meta]]:
    """The type under `Annotated[...]` and `| None`, with the Metas found on the way."""
    metas: list[Meta] = []
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation, *more = get_args(annotation)
            metas += [meta for meta in more if isinstance(meta, Meta)]
        elif origin in (Union, types.UnionType):
            arms = [arm for arm in get_args(annotation) if arm is not type(None)]
            if len(arms) > 1:
                return Union[tuple(arms)], metas  # noqa: UP007
            annotation = arms[0]
        else:
            return annotation, metas


def _fields(struct: type[Struct]) -> dict[str, object]:
    return {field.encode_name: field.type for field in msgspec.structs.fields(struct)}


def _path(steps: list[str | int]) -> str:
    return "".join(f"[{step}]" if type(step) is int else f".{step}" for step in steps)[1:]
