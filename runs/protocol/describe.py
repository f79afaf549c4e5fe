"""How a found value reads in an error message; shared by the body, event and storable checks."""

import json


def _describe(value: object) -> str:
    """How a found value reads in an error message: its JSON type, and the value if short."""
    if value is None:
        return "null"
    if value is True or value is False:
        return f"boolean {_show(value)}"
    if type(value) is int or type(value) is float:
        return f"number {_show(value)}"
    if isinstance(value, str):
        if not value:
            return "an empty string"
        if len(value) <= 40:
            return f"string {_show(value)}"
        return f'string {_show(value[:40])[:-1]}…" ({len(value):,} characters)'
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _show(value: object) -> str:
    """`value` as JSON text when it can be, for error messages."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)
