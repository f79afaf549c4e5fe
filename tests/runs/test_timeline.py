"""The waterfall's math: positions, nesting, durations, ticks, gaps, log markers and the
token strip. Pure: no database."""

from datetime import UTC, datetime, timedelta

from runs.timeline import (
    Item,
    LogBucket,
    axis_for,
    build_waterfall,
    format_ms,
    gaps,
    log_markers,
    nest,
    ticks,
    token_strip,
)

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def item(kind: str, key: str, start: float, end: float | None = None, **kw) -> Item:
    return Item(
        kind=kind,
        key=key,
        label=kw.pop("label", key),
        start=at(start),
        end=at(end) if end is not None else None,
        **kw,
    )


AXIS = axis_for(at(0), at(10))  # a 10 s run: 1 s is 10%


def test_a_bar_starts_and_lasts_as_a_percentage_of_the_run():
    [row] = build_waterfall([item("tool", "t1", 2, 4.5, tool="search")], AXIS).rows
    assert (row.left, row.width) == (20.0, 25.0)
    assert row.duration_ms == 2500
    assert row.duration == "2.5 s"
    assert not row.point


def test_an_instant_is_a_point_with_no_width_and_no_duration():
    [row] = build_waterfall([item("status", "s1", 5, status="running")], AXIS).rows
    assert row.point and row.width == 0 and row.left == 50.0
    assert row.duration_ms is None and row.duration == ""


def test_an_open_span_runs_to_the_end_of_the_axis_and_has_no_end_time():
    [row] = build_waterfall([item("tool", "t1", 6, open=True, tool="x")], AXIS).rows
    assert (row.left, row.width) == (60.0, 40.0)
    assert row.open and row.end_ms is None and row.duration_ms is None


def test_times_outside_the_axis_are_clamped_to_it():
    [row] = build_waterfall([item("tool", "t1", -3, 14, tool="x")], AXIS).rows
    assert (row.left, row.width) == (0.0, 100.0)


def test_a_run_with_one_instant_still_has_a_usable_axis():
    axis = axis_for(at(0), at(0))
    assert axis.span_ms == 1.0
    [row] = build_waterfall([item("status", "s", 0)], axis).rows
    assert row.left == 0.0


def test_a_bar_ending_near_the_right_edge_puts_its_duration_on_the_left():
    rows = build_waterfall(
        [item("tool", "a", 1, 2, tool="x"), item("tool", "b", 7, 9.5, tool="y")], AXIS
    ).rows
    assert [r.flip for r in rows] == [False, True]


def test_a_tool_call_nests_under_the_agent_action_that_asked_for_it():
    items = [
        item("action", "a1", 1, tool="search"),
        item("tool", "t1", 1.1, 2, tool="search"),
        item("action", "a2", 3, tool="fetch"),
        item("tool", "t2", 3.1, 4, tool="fetch"),
    ]
    assert [(i.key, depth) for i, depth in nest(items)] == [
        ("a1", 0), ("t1", 1), ("a2", 0), ("t2", 1),
    ]  # fmt: skip


def test_parallel_actions_pair_with_their_tool_calls_first_come_first_served():
    items = [
        item("action", "a1", 1, tool="search"),
        item("action", "a2", 1.01, tool="search"),
        item("tool", "t1", 1.1, 2, tool="search"),
        item("tool", "t2", 1.2, 3, tool="search"),
    ]
    order = [(i.key, d) for i, d in nest(items)]
    assert order == [("a1", 0), ("t1", 1), ("a2", 0), ("t2", 1)]


def test_a_tool_call_inside_another_nests_under_it():
    items = [
        item("tool", "outer", 1, 5, tool="agent_tool"),
        item("tool", "inner", 2, 3, tool="search"),
        item("tool", "after", 6, 7, tool="search"),
    ]
    assert [(i.key, d) for i, d in nest(items)] == [("outer", 0), ("inner", 1), ("after", 0)]


def test_rows_are_in_time_order_whatever_order_items_came_in():
    items = [item("status", "late", 9), item("llm", "c1", 2, 3), item("status", "early", 0)]
    assert [r.key for r in build_waterfall(items, AXIS).rows] == ["early", "c1", "late"]


def test_an_llm_call_starts_at_the_event_before_its_first_token_and_shows_the_wait():
    call = Item(kind="llm", key="c1", label="llm", start=at(3), end=at(5), wait_start=at(2))
    [row] = build_waterfall([call], AXIS).rows
    assert (row.left, row.width) == (20.0, 30.0)
    assert row.ttft_ms == 1000
    assert row.wait_percent == 33.33  # 1 s of waiting in a 3 s bar
    assert row.duration == "3 s"


def test_rows_past_the_cap_are_left_for_the_next_page():
    items = [item("status", f"s{n:03}", n / 100) for n in range(250)]
    first = build_waterfall(items, AXIS, cap=100)
    third = build_waterfall(items, AXIS, cap=100, offset=200)
    assert len(first.rows) == 100 and first.more and first.total == 250
    assert [r.key for r in third.rows][:1] == ["s200"] and len(third.rows) == 50
    assert not third.more


def test_ticks_are_round_numbers_across_the_run_labelled_from_zero():
    labels = [(t.left, t.label) for t in ticks(axis_for(at(0), at(10)))]
    assert labels == [(0.0, "0"), (20.0, "2 s"), (40.0, "4 s"), (60.0, "6 s"), (80.0, "8 s"),
                      (100.0, "10 s")]  # fmt: skip
    short = [t.label for t in ticks(axis_for(at(0), at(0.9)))]
    assert short[:3] == ["0", "200 ms", "400 ms"]
    long = ticks(axis_for(at(0), at(3 * 3600)))
    assert 3 <= len(long) <= 13 and long[1].label == "30 min"


def test_an_idle_stretch_between_bars_is_a_gap():
    items = [item("tool", "a", 0, 2, tool="x"), item("tool", "b", 6, 10, tool="x")]
    [gap] = gaps(items, AXIS)
    assert (gap.left, gap.width, gap.duration) == (20.0, 40.0, "4 s")


def test_overlapping_bars_and_instants_inside_them_leave_no_gap():
    items = [
        item("tool", "a", 0, 6, tool="x"),
        item("tool", "b", 1, 10, tool="x"),
        item("status", "s", 5),
    ]
    assert gaps(items, AXIS) == []


def test_a_pause_shorter_than_two_percent_of_the_run_is_not_a_gap():
    items = [item("tool", "a", 0, 5, tool="x"), item("tool", "b", 5.1, 10, tool="x")]
    assert gaps(items, AXIS) == []


def test_log_lines_are_markers_not_rows_and_do_not_fill_gaps():
    items = [item("tool", "a", 0, 2, tool="x"), item("log", "l", 4), item("tool", "b", 6, 10)]
    assert len(gaps(items, AXIS)) == 1
    buckets = [LogBucket(index=3, count=12, worst_level="error", first_event_id="e9",
                         first_at=at(3.5))]  # fmt: skip
    [marker] = log_markers(buckets, AXIS, bucket_count=240)
    assert (marker.left, marker.level, marker.event_id) == (35.0, "error", "e9")
    assert marker.title == "12 log lines, worst error"


def test_durations_read_like_people_say_them():
    assert [format_ms(v) for v in (0, 840, 1200, 14_250, 59_999, 125_000, 3_720_000)] == [
        "0 ms", "840 ms", "1.2 s", "14.2 s", "60 s", "2 min 05 s", "1 h 02 min",
    ]  # fmt: skip


def test_the_token_strip_bins_ten_thousand_tokens_into_a_bounded_number_of_ticks():
    offsets = list(range(10_000))  # one token per ms
    strip = token_strip(offsets, [], columns=500)
    assert len(strip.ticks) == 500
    assert sum(t.count for t in strip.ticks) == 10_000
    assert strip.token_count == 10_000 and strip.duration == "10 s"


def test_the_token_strip_marks_a_stall_where_the_gap_is():
    offsets = [0, 100, 200, 3200, 3300]  # a 3 s pause after the third token
    strip = token_strip(offsets, [(2, 3000)])
    [stall] = strip.stalls
    assert stall.gap == "3 s"
    assert (stall.x, stall.width) == (round(200 / 3300 * 1000, 2), round(3000 / 3300 * 1000, 2))
    assert len(strip.ticks) == 5
    assert token_strip([], []).ticks == []
