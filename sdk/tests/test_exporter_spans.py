"""Tool spans paired in order, and streamed tokens grouped into LLM calls."""

from charm_studio import StudioExporter


def run_events(studio, exporter: StudioExporter, count: int) -> list[dict]:
    exporter.on_run_end(run_id="local", outputs={"status": "success", "output": ""})
    assert studio.wait_for(lambda events: len(events) >= count + 2), studio.events
    return [e for e in studio.events if e["type"] not in ("run_start", "run_end")]


def spans(events: list[dict]) -> list[tuple[str, str, str]]:
    return [(e["type"], e["data"]["tool_name"], e["data"]["span_id"]) for e in events]


def test_a_tool_end_closes_the_oldest_open_span_of_the_same_tool(studio):
    exporter = StudioExporter()
    exporter.on_run_start(run_id="local", inputs={})
    exporter.on_tool_start(tool_name="search", input_str="a")
    exporter.on_tool_start(tool_name="fetch", input_str="b")
    exporter.on_tool_start(tool_name="search", input_str="c")
    exporter.on_tool_end(tool_name="search", output="A")
    exporter.on_tool_end(tool_name="fetch", output="B")
    exporter.on_tool_error(tool_name="search", error=TimeoutError("C"))

    assert spans(run_events(studio, exporter, 6)) == [
        ("tool_start", "search", "span-1"),
        ("tool_start", "fetch", "span-2"),
        ("tool_start", "search", "span-3"),
        ("tool_end", "search", "span-1"),
        ("tool_end", "fetch", "span-2"),
        ("tool_error", "search", "span-3"),
    ]


def test_a_tool_end_naming_no_open_tool_closes_the_oldest_open_span(studio):
    # The SDK names the end after the tool that started last, which can be wrong.
    exporter = StudioExporter()
    exporter.on_run_start(run_id="local", inputs={})
    exporter.on_tool_start(tool_name="search", input_str="a")
    exporter.on_tool_start(tool_name="fetch", input_str="b")
    exporter.on_tool_end(tool_name="Unknown", output="A")
    exporter.on_tool_end(tool_name="fetch", output="B")

    assert [span_id for *_, span_id in spans(run_events(studio, exporter, 4))] == [
        "span-1",
        "span-2",
        "span-1",
        "span-2",
    ]


def test_a_tool_end_with_no_open_span_gets_a_span_of_its_own(studio):
    exporter = StudioExporter()
    exporter.on_run_start(run_id="local", inputs={})
    exporter.on_tool_start(tool_name="search", input_str="a")
    exporter.on_tool_end(tool_name="search", output="A")
    exporter.on_tool_end(tool_name="search", output="again")

    assert [span_id for *_, span_id in spans(run_events(studio, exporter, 3))] == [
        "span-1",
        "span-1",
        "span-2",
    ]


def test_tokens_share_a_call_id_until_a_tool_or_an_action_comes_between(studio):
    exporter = StudioExporter()
    exporter.on_run_start(run_id="local", inputs={})
    exporter.on_llm_new_token(token="I ")
    exporter.on_llm_new_token(token="search")
    exporter.on_agent_action(tool="search", tool_input="overdue")
    exporter.on_llm_new_token(token="Calling")
    exporter.on_tool_start(tool_name="search", input_str="overdue")
    exporter.on_tool_end(tool_name="search", output="3 hits")
    exporter.on_llm_new_token(token="Three ")
    exporter.on_llm_new_token(token="invoices")

    events = run_events(studio, exporter, 8)
    calls = [(e["data"]["token"], e["data"]["call_id"]) for e in events if "token" in e["data"]]
    assert calls == [
        ("I ", "call-1"),
        ("search", "call-1"),
        ("Calling", "call-2"),
        ("Three ", "call-3"),
        ("invoices", "call-3"),
    ]


def test_empty_tokens_are_not_sent(studio):
    exporter = StudioExporter()
    exporter.on_run_start(run_id="local", inputs={})
    exporter.on_llm_new_token(token="")
    exporter.on_llm_new_token(token="x")

    events = run_events(studio, exporter, 1)
    assert [e["data"]["token"] for e in events] == ["x"]
