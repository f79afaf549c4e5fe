"""docs/protocol.md: the field table of every event type's data, from the protocol's
Structs (runs.protocol.schema), so the page cannot drift from what ingest takes.

    python -m runs.protocol.docs --write     # rewrite docs/protocol.md
"""

import argparse
import sys
from pathlib import Path

from runs.protocol.schema import EVENT_DATA_TYPES, data_schemas

PAGE = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
_LONG_PATTERN = 60  # a longer pattern (the currency codes) is left to the OpenAPI document

_HEAD = """# Event protocol v1: the data of each event type

Written by `python -m runs.protocol.docs --write` from `runs/protocol/schema.py`, the
definition ingest validates against; do not edit by hand. Every event is an object with
`event_id`, `run_id`, `ts`, `type`, optional `seq` and `agent` (required on `run_start`)
and `data`, below. A field marked optional may be left out or sent as null. Fields not
listed are accepted and dropped. The served OpenAPI document (`/api/v1/openapi.json`)
has the same schemas.
"""


def page() -> str:
    schemas = data_schemas("#/{name}")
    parts = [_HEAD]
    for event_type, data_type in EVENT_DATA_TYPES.items():
        schema = schemas[data_type.__name__]
        parts.append(f"\n## `{event_type}`\n")
        if schema.get("description"):
            parts.append(f"\n{_one_line(schema['description'])}\n")
        parts.append(_table(schema))
    for name in sorted(n for n in schemas if not n.endswith("Data")):
        schema = schemas[name]
        parts.append(f"\n## {name}\n")
        if schema.get("description"):
            parts.append(f"\n{_one_line(schema['description'])}\n")
        parts.append(_table(schema))
    return "".join(parts)


def _table(schema: dict) -> str:
    properties = schema.get("properties", {})
    if not properties:
        return "\nNo fields.\n"
    required = set(schema.get("required", ()))
    rows = ["\n| field | type | required | default | notes |", "| --- | --- | --- | --- | --- |"]
    for name, prop in properties.items():
        default = prop.get("default")
        rows.append(
            f"| `{name}` | {_type(prop)} | {'yes' if name in required else 'no'} | "
            f"{'' if default is None else f'`{default}`'} | {_one_line(_notes(prop))} |"
        )
    return "\n".join(rows) + "\n"


def _branches(prop: dict) -> list[dict]:
    return [b for b in prop.get("anyOf", [prop]) if b.get("type") != "null"]


def _type(prop: dict) -> str:
    shown = []
    for branch in _branches(prop):
        if "$ref" in branch:
            shown.append(f"[{branch['$ref'][2:]}](#{branch['$ref'][2:].lower()})")
        elif "enum" in branch:
            shown.append("one of " + ", ".join(f"`{v}`" for v in branch["enum"]))
        elif branch.get("type") == "array":
            shown.append(f"array of {_type(branch.get('items', {}))}")
        else:
            shown.append(branch.get("type", "any JSON"))
    return " or ".join(shown) or "any JSON"


def _notes(prop: dict) -> str:
    notes = []
    for branch in _branches(prop):
        low, high = branch.get("minLength"), branch.get("maxLength")
        if high is not None:
            notes.append(f"{low}–{high} characters" if low else f"at most {high} characters")
        elif low:
            notes.append(f"at least {low} characters")
        if "minimum" in branch or "maximum" in branch:
            notes.append(f"{branch.get('minimum', '…')} to {branch.get('maximum', '…')}")
        pattern = branch.get("pattern")
        if pattern and len(pattern) <= _LONG_PATTERN:
            notes.append(f"matches `{pattern}`")
        if branch.get("description"):
            notes.append(branch["description"])
    if "anyOf" in prop and prop.get("description"):
        notes.append(prop["description"])
    return "; ".join(note.rstrip(".") for note in notes)


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m runs.protocol.docs", description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"rewrite {PAGE.name}")
    if parser.parse_args(argv).write:
        PAGE.write_text(page())
    else:
        sys.stdout.write(page())


if __name__ == "__main__":
    main(sys.argv[1:])
