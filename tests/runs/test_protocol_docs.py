"""docs/protocol.md is the protocol's definition written out, never a copy kept by hand."""

from runs.protocol.docs import PAGE, page
from runs.protocol.schema import EVENT_DATA_TYPES


def test_the_protocol_page_is_written_from_the_definition():
    assert PAGE.read_text() == page(), (
        "docs/protocol.md is out of date: run python -m runs.protocol.docs --write"
    )


def test_the_page_has_a_table_for_every_event_type_with_its_fields():
    text = page()
    for event_type, data_type in EVENT_DATA_TYPES.items():
        section = text.split(f"## `{event_type}`\n", 1)[1].split("\n## ", 1)[0]
        for field in data_type.__struct_fields__:
            assert f"| `{field}` |" in section, (event_type, field)
    assert "| `tool_name` | string | yes |  | 1–200 characters |" in text
    assert "| `stream` | one of `stderr`, `stdout` | no | `stdout` |" in text
