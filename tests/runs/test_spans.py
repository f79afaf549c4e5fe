import random
from datetime import UTC, datetime, timedelta

import pytest

from runs.spans import Span, ToolEvent, pair_tool_events, span_state

T0 = datetime(2026, 11, 25, 11, 24, 41, tzinfo=UTC)


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def start(tool: str, ms: int, event_id: str, span_id: str | None = None, **payload) -> ToolEvent:
    payload.setdefault("input_str", f"input of {event_id}")
    return ToolEvent("tool_start", tool, span_id, at(ms), None, event_id, payload)


def end(tool: str, ms: int, event_id: str, span_id: str | None = None) -> ToolEvent:
    return ToolEvent("tool_end", tool, span_id, at(ms), None, event_id, {"output": event_id})


def error(tool: str, ms: int, event_id: str, span_id: str | None = None) -> ToolEvent:
    payload = {"error": {"type": "TimeoutError", "message": "took too long"}}
    return ToolEvent("tool_error", tool, span_id, at(ms), None, event_id, payload)


def by_key(spans: list[Span]) -> dict[str, Span]:
    return {span.span_key: span for span in spans}


def test_start_and_end_with_the_same_span_id_make_one_ok_span():
    [span] = pair_tool_events(
        [start("search", 0, "e1", "t1", input_str="overdue"), end("search", 250, "e2", "t1")]
    )

    assert span.span_key == "t1"
    assert span.tool_name == "search"
    assert span.status == "ok"
    assert (span.started_at, span.ended_at, span.duration_ms) == (at(0), at(250), 250)
    assert (span.input_str, span.output, span.error) == ("overdue", "e2", None)
    assert (span.start_event_id, span.end_event_id) == ("e1", "e2")
    assert span.explicit


def test_span_ids_pair_across_interleaved_calls_of_the_same_tool():
    spans = by_key(
        pair_tool_events(
            [
                start("search", 0, "e1", "a"),
                start("search", 10, "e2", "b"),
                end("search", 20, "e3", "b"),
                end("search", 30, "e4", "a"),
            ]
        )
    )

    assert spans["a"].end_event_id == "e4"
    assert spans["b"].end_event_id == "e3"


def test_tool_error_closes_the_span_as_an_error_with_its_error():
    [span] = pair_tool_events([start("fetch", 0, "e1", "t1"), error("fetch", 5, "e2", "t1")])

    assert span.status == "error"
    assert span.error == {"type": "TimeoutError", "message": "took too long"}
    assert span.output is None


def test_end_without_span_id_closes_the_earliest_open_start_of_that_tool():
    spans = pair_tool_events(
        [
            start("search", 0, "s1"),
            start("search", 10, "s2"),
            end("search", 20, "x1"),
            end("search", 30, "x2"),
        ]
    )

    assert [(s.span_key, s.start_event_id, s.end_event_id) for s in spans] == [
        ("search#1", "s1", "x1"),
        ("search#2", "s2", "x2"),
    ]
    assert not spans[0].explicit


def test_ends_of_one_tool_do_not_close_starts_of_another():
    spans = by_key(
        pair_tool_events(
            [start("search", 0, "s1"), start("fetch", 5, "f1"), end("fetch", 10, "f2")]
        )
    )

    assert spans["fetch#1"].status == "ok"
    assert spans["search#1"].status == "open"


def test_an_end_before_any_start_of_its_tool_has_an_unknown_start():
    spans = by_key(pair_tool_events([end("search", 0, "x1"), start("search", 10, "s1")]))

    orphan = spans["search#end-1"]
    assert orphan.started_at is None
    assert orphan.start_event_id is None
    assert orphan.duration_ms is None
    assert orphan.status == "ok"
    assert spans["search#1"].status == "open"


def test_an_end_whose_span_id_never_started_has_an_unknown_start():
    [span] = pair_tool_events([error("search", 0, "x1", "t9")])

    assert (span.span_key, span.started_at, span.status) == ("t9", None, "error")


def test_unpaired_start_is_open_and_abandoned_once_the_run_ended():
    [span] = pair_tool_events([start("search", 0, "s1")])

    assert span.status == "open"
    assert span.ended_at is None
    assert span_state(span, run_ended=False) == "open"
    assert span_state(span, run_ended=True) == "abandoned"


def test_finished_spans_keep_their_state_after_the_run_ended():
    [ok] = pair_tool_events([start("a", 0, "s1"), end("a", 1, "x1")])
    [failed] = pair_tool_events([start("a", 0, "s1"), error("a", 1, "x1")])

    assert span_state(ok, run_ended=True) == "ok"
    assert span_state(failed, run_ended=True) == "error"


def test_a_resent_event_counts_once():
    events = [start("search", 0, "s1"), end("search", 10, "x1")]

    resent = [*events, end("search", 10, "x1"), start("search", 0, "s1")]

    assert pair_tool_events(resent) == pair_tool_events(events)


def test_a_second_end_for_a_span_id_is_ignored():
    [span] = pair_tool_events(
        [start("a", 0, "s1", "t1"), end("a", 10, "x1", "t1"), error("a", 20, "x2", "t1")]
    )

    assert (span.status, span.end_event_id) == ("ok", "x1")


def test_a_span_id_pairs_even_when_the_end_is_stamped_before_the_start():
    [span] = pair_tool_events([start("a", 10, "s1", "t1"), end("a", 5, "x1", "t1")])

    assert (span.start_event_id, span.end_event_id) == ("s1", "x1")
    assert span.duration_ms == -5


def test_events_sharing_a_timestamp_are_ordered_by_seq():
    same_ts = at(0)
    events = [
        ToolEvent("tool_end", "a", None, same_ts, 1, "zz-end", {}),
        ToolEvent("tool_start", "a", None, same_ts, 0, "aa-start", {}),
    ]

    [span] = pair_tool_events(events)

    assert (span.start_event_id, span.end_event_id) == ("aa-start", "zz-end")


def test_result_does_not_depend_on_input_order():
    events = [
        start("search", 0, "s1"),
        start("search", 5, "s2", "explicit"),
        start("fetch", 10, "f1"),
        end("search", 20, "x1"),
        error("fetch", 25, "f2"),
        end("search", 30, "x2", "explicit"),
        start("search", 40, "s3"),
        end("search", 50, "x3"),
        end("search", 60, "x4"),
        start("search", 70, "s4"),
    ]
    expected = pair_tool_events(events)
    rng = random.Random(3)

    for _ in range(200):
        shuffled = events + rng.sample(events, k=3)
        rng.shuffle(shuffled)
        assert pair_tool_events(shuffled) == expected

    assert [span.span_key for span in expected] == [
        "search#1",
        "explicit",
        "fetch#1",
        "search#2",
        "search#end-1",
        "search#3",
    ]


def test_spans_come_ordered_by_their_first_event():
    spans = pair_tool_events([end("b", 5, "x1"), start("a", 10, "s1"), start("c", 1, "s2")])

    assert [span.tool_name for span in spans] == ["c", "b", "a"]


def test_an_unknown_event_type_is_refused():
    with pytest.raises(ValueError, match="not a tool event type"):
        ToolEvent("tool_finish", "a", None, T0, None, "e1", {})  # type: ignore[arg-type]
