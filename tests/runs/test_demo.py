"""Tests for the demo data generator (runs/demo/): pure Python, no database."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest

from runs.demo import generate_demo_events, iter_demo_ndjson, running_run_events

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DAYS = 14
TYPES = {
    "run_start",
    "run_end",
    "error",
    "tool_start",
    "tool_end",
    "tool_error",
    "llm_new_token",
    "llm_call",
    "agent_action",
    "status",
    "log",
    "usage",
    "revenue",
    "tool_usage",
    "artifact",
    "state_update",
    "process_exit",
    "stream_end",
}
# What the process or the pipe reports after the run's last status.
AFTERWORD = {"process_exit", "stream_end"}
TERMINAL = {"succeeded", "failed", "cancelled", "timed_out", "validation_failed"}
RUN_ID = re.compile(r"run_[0-9a-f]{12}")
TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
AMOUNT = re.compile(r"\d+\.\d\d")

Event = dict[str, Any]


def _ts(event: Event) -> datetime:
    return datetime.fromisoformat(event["ts"])


def _by_run(events: list[Event]) -> dict[str, list[Event]]:
    runs: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        runs[event["run_id"]].append(event)
    return {run_id: sorted(run, key=lambda e: e["seq"]) for run_id, run in runs.items()}


def _final_status(run: list[Event]) -> str:
    return _last_status(run)["data"]["status"]


def _last_status(run: list[Event]) -> Event:
    return [e for e in run if e["type"] == "status"][-1]


def _before_afterword(run: list[Event]) -> list[Event]:
    return run[:-1] if run[-1]["type"] in AFTERWORD else run


def _token_calls(events: list[Event]) -> dict[str, list[Event]]:
    calls: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event["type"] == "llm_new_token":
            calls[event["data"]["call_id"]].append(event)
    return {call_id: sorted(tokens, key=lambda e: e["seq"]) for call_id, tokens in calls.items()}


def _reads_as_prose(text: str) -> bool:
    """Capitalised sentences of real-looking words, no template leftovers."""
    words = re.findall(r"[A-Za-zÀ-ÿ]+", text)
    return (
        len(words) >= 8
        and (text[0].isupper() or text.startswith("#"))
        and re.search(r"[A-Z][^.!?\n]{15,}[.!?]", text) is not None
        and not re.search(r"[{}]|  |\s[,.]", text)
        and 3 <= sum(map(len, words)) / len(words) <= 8
    )


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return generate_demo_events(seed=7, now=NOW, days=DAYS)


@pytest.fixture(scope="module")
def runs(events: list[Event]) -> dict[str, list[Event]]:
    return _by_run(events)


@pytest.fixture(scope="module")
def live() -> list[Event]:
    return running_run_events(seed=7, now=NOW)


# Determinism, size -------------------------------------------------------------------


def test_the_same_seed_gives_the_same_events() -> None:
    first = generate_demo_events(seed=3, now=NOW, runs=40)
    assert first == generate_demo_events(seed=3, now=NOW, runs=40)
    assert first != generate_demo_events(seed=4, now=NOW, runs=40)


def test_the_default_call_makes_300_runs_and_60k_to_150k_events(
    events: list[Event], runs: dict[str, list[Event]]
) -> None:
    assert len(runs) == 300
    assert 60_000 <= len(events) <= 150_000
    types = Counter(e["type"] for e in events)
    assert types["llm_new_token"] > len(events) / 2


def test_the_size_grows_linearly_with_the_number_of_runs(events: list[Event]) -> None:
    small = generate_demo_events(seed=7, now=NOW, runs=100)
    assert len(_by_run(small)) == 100
    per_run_small, per_run_default = len(small) / 100, len(events) / 300
    assert 0.6 < per_run_small / per_run_default < 1.6


def test_zero_runs_give_no_events_and_bad_arguments_are_refused() -> None:
    assert generate_demo_events(now=NOW, runs=0) == []
    with pytest.raises(ValueError):
        generate_demo_events(now=NOW, runs=-1)
    with pytest.raises(ValueError):
        generate_demo_events(now=NOW, days=0)


# Protocol shape ------------------------------------------------------------------------


def test_every_event_has_the_protocol_fields_with_the_right_types(events: list[Event]) -> None:
    for event in events:
        assert set(event) == {"v", "event_id", "run_id", "seq", "ts", "type", "agent", "data"}
        assert event["v"] == 1
        assert isinstance(event["event_id"], str) and 1 <= len(event["event_id"]) <= 64
        assert RUN_ID.fullmatch(event["run_id"])
        assert type(event["seq"]) is int and event["seq"] >= 0
        assert TS.fullmatch(event["ts"])
        assert event["type"] in TYPES
        assert isinstance(event["agent"]["name"], str) and event["agent"]["version"]
        assert isinstance(event["data"], dict)


def test_every_event_is_json_safe(events: list[Event]) -> None:
    assert json.loads(json.dumps(events)) == events


def test_event_ids_are_unique(events: list[Event], live: list[Event]) -> None:
    ids = [e["event_id"] for e in events + live]
    assert len(ids) == len(set(ids))


def test_type_specific_data_follows_the_protocol(events: list[Event]) -> None:
    for event in events:
        data, kind = event["data"], event["type"]
        if kind == "run_start":
            assert data["environment"] in {"cloud", "local", "docker"}
            assert {"sdk_version", "python", "image", "region"} <= set(data["runtime"])
            assert all(isinstance(name, str) for name in data["config"]["required_env"])
            assert all(isinstance(name, str) for name in data["config"]["oauth"])
        elif kind in {"tool_start", "tool_end", "tool_error"}:
            assert isinstance(data["tool_name"], str)
            field = {"tool_start": "input_str", "tool_end": "output", "tool_error": "error"}[kind]
            assert field in data
        elif kind in {"error", "tool_error"}:
            assert {"type", "message"} <= set(data["error"])
        elif kind == "llm_new_token":
            assert isinstance(data["token"], str) and data["token"]
            assert data["model"] and data["call_id"]
        elif kind == "agent_action":
            assert isinstance(data["tool"], str) and "tool_input" in data
        elif kind == "status":
            assert data["status"] in TERMINAL | {"queued", "running", "validating"}
        elif kind == "log":
            assert data["level"] in {"debug", "info", "warning", "error", "critical"}
            assert data["stream"] in {"stdout", "stderr"}
            assert isinstance(data["message"], str)
        elif kind == "usage":
            assert type(data["input_tokens"]) is int and data["input_tokens"] >= 0
            assert type(data["output_tokens"]) is int and data["output_tokens"] > 0
        elif kind == "llm_call":
            assert data["output"] and data["model"] and data["call_id"]
            assert TS.fullmatch(data["started_at"]) and data["started_at"] < event["ts"]
            assert [m["role"] for m in data["input"]] == ["system", "user"]
        elif kind == "revenue":
            assert data["kind"] in {"charge", "refund", "credit", "payout", "subscription"}
            assert AMOUNT.fullmatch(data["amount"])
            assert data["currency"] in {"USD", "EUR"}


def test_every_demo_event_passes_the_protocol_validator() -> None:
    protocol = pytest.importorskip("runs.protocol", reason="runs/protocol.py is not written yet")
    if not hasattr(protocol, "validate_event"):
        pytest.skip("runs.protocol has no validate_event")
    # The validator bounds timestamps by the real clock, so generate around it.
    now = datetime.now(UTC)
    demo = generate_demo_events(seed=11, now=now, runs=60)
    demo += running_run_events(seed=11, now=now, include_future=True)
    for event in demo:
        protocol.validate_event(event)


def test_the_ndjson_stream_parses_without_rejections() -> None:
    protocol = pytest.importorskip("runs.protocol", reason="runs/protocol.py is not written yet")
    if not hasattr(protocol, "parse_body"):
        pytest.skip("runs.protocol has no parse_body")
    body = "".join(iter_demo_ndjson(seed=5, now=NOW, runs=30, include_running=True))
    result = protocol.parse_body(
        body.encode(), content_type="application/x-ndjson", received_at=NOW
    )
    assert result.rejected == []
    assert len(result.events) == body.count("\n")


# Runs: order, timeline, endings --------------------------------------------------------


def test_each_run_counts_seq_from_zero_and_its_time_only_moves_forward(
    runs: dict[str, list[Event]],
) -> None:
    for run in runs.values():
        assert [e["seq"] for e in run] == list(range(len(run)))
        assert all(_ts(a) < _ts(b) for a, b in pairwise(run))


def test_runs_start_with_run_start_and_end_once_before_now(
    runs: dict[str, list[Event]],
) -> None:
    for run in runs.values():
        assert run[0]["type"] == "run_start"
        last = _before_afterword(run)[-1]
        assert last["type"] == "status" and last["data"]["status"] in TERMINAL
        terminal = [e for e in run if e["type"] == "status" and e["data"]["status"] in TERMINAL]
        assert len(terminal) == 1
        assert NOW - timedelta(days=DAYS, hours=4) < _ts(run[0]) and _ts(run[-1]) < NOW


def test_the_list_is_sorted_by_time(events: list[Event]) -> None:
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)


def test_the_mix_of_endings_is_realistic(runs: dict[str, list[Event]]) -> None:
    endings = Counter(_final_status(run) for run in runs.values())
    assert set(endings) == TERMINAL
    assert 0.70 <= endings["succeeded"] / 300 <= 0.85
    assert 0.08 <= endings["failed"] / 300 <= 0.15
    assert 0.03 <= endings["validation_failed"] / 300 <= 0.06
    assert endings["cancelled"] >= 3 and endings["timed_out"] >= 3


def test_succeeded_runs_end_with_outputs_and_some_recovered_from_a_tool_error(
    runs: dict[str, list[Event]],
) -> None:
    succeeded = [run for run in runs.values() if _final_status(run) == "succeeded"]
    for run in succeeded:
        assert next(e for e in run if e["type"] == "run_end")["data"]["outputs"]
    recovered = [run for run in succeeded if any(e["type"] == "tool_error" for e in run)]
    assert len(recovered) >= 10


def test_runs_go_through_running_and_sometimes_queue_and_validate_first(
    runs: dict[str, list[Event]],
) -> None:
    statuses = Counter()
    for run in runs.values():
        seen = [e["data"]["status"] for e in run if e["type"] == "status"]
        statuses.update(set(seen))
        if _final_status(run) != "validation_failed":
            assert "running" in seen
    assert statuses["queued"] >= 50 and statuses["validating"] >= 50


def test_validation_failures_say_what_is_wrong_in_charm_yaml(
    runs: dict[str, list[Event]],
) -> None:
    failures = [run for run in runs.values() if _final_status(run) == "validation_failed"]
    assert failures
    for run in failures:
        seen = [e["data"]["status"] for e in run if e["type"] == "status"]
        assert seen[-2:] == ["validating", "validation_failed"]
        assert "running" not in seen
        assert _last_status(run)["data"]["message"].startswith("charm.yaml: ")
    schema = re.compile(r"charm\.yaml: tool '[\w.]+' requires input schema")
    assert sum(1 for run in failures if schema.fullmatch(_last_status(run)["data"]["message"])) >= 3


def test_crashed_runs_carry_a_python_traceback_that_ends_with_the_error(
    runs: dict[str, list[Event]],
) -> None:
    crashed = [run for run in runs.values() if _final_status(run) == "failed"]
    for run in crashed:
        error = next(e for e in run if e["type"] == "error")["data"]["error"]
        assert error["traceback"].startswith("Traceback (most recent call last):\n")
        assert error["traceback"].endswith(f"\n{error['type']}: {error['message']}")
        assert _last_status(run)["data"]["message"] == f"{error['type']}: {error['message']}"
        stderr = [e for e in run if e["type"] == "log" and e["data"]["stream"] == "stderr"]
        assert any("Traceback" in e["data"]["message"] for e in stderr)


def test_crashes_repeat_by_kind_with_other_ids_in_the_message(
    runs: dict[str, list[Event]],
) -> None:
    errors = [e["data"]["error"] for run in runs.values() for e in run if e["type"] == "error"]
    by_type = Counter(error["type"] for error in errors)
    assert len(by_type) >= 4 and by_type.most_common(1)[0][1] >= 8
    timeouts = {error["message"] for error in errors if error["type"] == "TimeoutError"}
    assert len(timeouts) >= 3
    messages = {error["message"] for error in errors}
    assert "'STRIPE_API_KEY'" in messages
    assert any(m.startswith("OAuth connection 'google-drive' is not connected") for m in messages)


def test_crashes_fall_into_a_few_large_error_groups(runs: dict[str, list[Event]]) -> None:
    fingerprint = pytest.importorskip("runs.fingerprint")
    errors = [e["data"]["error"] for run in runs.values() for e in run if e["type"] == "error"]
    groups = Counter(
        fingerprint.error_fingerprint(err["type"], err["message"], err["traceback"])
        for err in errors
    )
    assert len(groups) <= 12
    assert sum(1 for size in groups.values() if size >= 4) >= 3


def test_missing_env_vars_and_oauth_connections_are_declared_in_the_run_config(
    runs: dict[str, list[Event]],
) -> None:
    checked = 0
    for run in runs.values():
        errors = [e["data"]["error"] for e in run if e["type"] == "error"]
        if not errors:
            continue
        config = run[0]["data"]["config"]
        message = errors[0]["message"]
        if errors[0]["type"] == "KeyError":
            assert message.strip("'") in config["required_env"]
            checked += 1
        if message.startswith("OAuth connection"):
            assert message.split("'")[1] in config["oauth"]
            checked += 1
    assert checked >= 10


def test_failed_cloud_runs_have_a_local_twin_with_the_same_inputs_that_succeeded(
    runs: dict[str, list[Event]],
) -> None:
    starts = {run_id: run[0] for run_id, run in runs.items()}

    def same_input(event: Event) -> tuple[str, str]:
        return event["agent"]["name"], json.dumps(event["data"]["inputs"], sort_keys=True)

    local_successes = defaultdict(list)
    for run_id, start in starts.items():
        if start["data"]["environment"] == "local" and _final_status(runs[run_id]) == "succeeded":
            local_successes[same_input(start)].append(start)
    failed_cloud = [
        start
        for run_id, start in starts.items()
        if start["data"]["environment"] == "cloud" and _final_status(runs[run_id]) == "failed"
    ]
    twins = 0
    for start in failed_cloud:
        for local in local_successes[same_input(start)]:
            before = timedelta(0) < _ts(start) - _ts(local) < timedelta(hours=3)
            if before and local["data"]["runtime"] != start["data"]["runtime"]:
                assert local["data"]["runtime"]["python"] != start["data"]["runtime"]["python"]
                twins += 1
                break
    assert twins >= 15
    assert twins >= len(failed_cloud) / 2


def test_cancelled_and_timed_out_runs_say_why(runs: dict[str, list[Event]]) -> None:
    for run in runs.values():
        status = _last_status(run)["data"]
        if status["status"] == "cancelled":
            assert status["message"].startswith("cancelled by ")
        if status["status"] == "timed_out":
            limit = run[0]["data"]["config"]["timeout_s"]
            assert _ts(run[-1]) - _ts(run[0]) >= timedelta(seconds=limit)
            assert any(e["type"] == "tool_start" for e in run)


# LLM calls -----------------------------------------------------------------------------


def test_token_streams_of_one_call_read_as_sentences(events: list[Event]) -> None:
    calls = _token_calls(events)
    assert len(calls) > 500
    for tokens in calls.values():
        text = "".join(e["data"]["token"] for e in tokens)
        assert _reads_as_prose(text), text


def test_each_call_streams_from_one_model_in_one_run_and_reports_its_usage(
    events: list[Event],
) -> None:
    usage = {e["data"]["call_id"]: e for e in events if e["type"] == "usage"}
    for call_id, tokens in _token_calls(events).items():
        assert len({(e["run_id"], e["data"]["model"]) for e in tokens}) == 1
        seqs = [e["seq"] for e in tokens]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        report = usage[call_id]
        assert report["run_id"] == tokens[0]["run_id"]
        assert report["data"]["model"] == tokens[0]["data"]["model"]
        assert report["data"]["output_tokens"] == len(tokens)
        assert report["seq"] == seqs[-1] + 1


def test_tokens_arrive_10_to_60_ms_apart_with_a_few_stalls_and_long_streams(
    events: list[Event],
) -> None:
    gaps = []
    lengths = []
    for tokens in _token_calls(events).values():
        lengths.append(len(tokens))
        gaps += [(_ts(b) - _ts(a)).total_seconds() for a, b in pairwise(tokens)]
    assert all(0.010 <= gap <= 0.060 or 2.0 <= gap <= 5.0 for gap in gaps)
    assert 20 <= sum(1 for gap in gaps if gap >= 2.0) <= len(gaps) / 100
    assert sum(1 for n in lengths if 1000 <= n <= 3200) >= 4


def test_usage_covers_the_common_models_and_some_cache_reads(events: list[Event]) -> None:
    usage = [e["data"] for e in events if e["type"] == "usage"]
    models = {u["model"] for u in usage}
    assert {"gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "claude-haiku-4-5"} <= models
    cached = [u for u in usage if u.get("cache_read_tokens")]
    assert len(usage) / 10 < len(cached) < len(usage)


# Tools, logs ---------------------------------------------------------------------------


def test_tool_spans_mostly_pair_by_span_id_and_some_have_none(
    runs: dict[str, list[Event]],
) -> None:
    starts = [e for run in runs.values() for e in run if e["type"] == "tool_start"]
    with_span = [e for e in starts if "span_id" in e["data"]]
    assert 0.7 < len(with_span) / len(starts) < 0.97
    for run in runs.values():
        opened = {
            e["data"]["span_id"]
            for e in run
            if e["type"] == "tool_start" and "span_id" in e["data"]
        }
        for event in run:
            if event["type"] in {"tool_end", "tool_error"} and "span_id" in event["data"]:
                assert event["data"]["span_id"] in opened


def test_every_tool_call_is_announced_by_an_agent_action(runs: dict[str, list[Event]]) -> None:
    for run in runs.values():
        for before, event in pairwise(run):
            if event["type"] == "tool_start" and before["type"] == "agent_action":
                assert before["data"]["tool"] == event["data"]["tool_name"]


def test_logs_use_every_level_both_streams_and_named_loggers(events: list[Event]) -> None:
    logs = [e["data"] for e in events if e["type"] == "log"]
    assert {log["level"] for log in logs} == {"debug", "info", "warning", "error"}
    assert {log["stream"] for log in logs} == {"stdout", "stderr"}
    loggers = {log.get("logger") for log in logs}
    assert {"charm.runtime", "httpx", None} <= loggers


# Revenue -------------------------------------------------------------------------------


def test_revenue_has_every_kind_with_unique_external_ids(events: list[Event]) -> None:
    revenue = [e["data"] for e in events if e["type"] == "revenue"]
    kinds = Counter(r["kind"] for r in revenue)
    assert kinds["charge"] >= 30 and kinds["subscription"] >= 3
    assert kinds["refund"] >= 2 and kinds["credit"] >= 1
    ids = [r["external_id"] for r in revenue]
    assert len(ids) == len(set(ids))
    assert {r["currency"] for r in revenue} == {"USD", "EUR"}
    assert sum(r["currency"] == "USD" for r in revenue) > len(revenue) / 2


def test_refunds_point_at_earlier_charges_of_the_same_customer(events: list[Event]) -> None:
    charges = {}
    refunded = set()
    for event in events:  # sorted by time
        data = event["data"]
        if event["type"] != "revenue":
            continue
        if data["kind"] == "charge":
            charges[data["external_id"]] = data
        if data["kind"] == "refund":
            charge = charges[data["refund_of"]]
            assert (charge["customer"], charge["currency"]) == (data["customer"], data["currency"])
            assert Decimal(data["amount"]) <= Decimal(charge["amount"])
            assert data["refund_of"] not in refunded
            refunded.add(data["refund_of"])


def test_only_cloud_runs_of_the_revenue_earning_agents_book_revenue(
    runs: dict[str, list[Event]],
) -> None:
    for run in runs.values():
        if any(e["type"] == "revenue" for e in run):
            assert run[0]["agent"]["name"] in {"invoice-bot", "sales-outreach"}
            assert run[0]["data"]["environment"] == "cloud"


# Fleet and calendar --------------------------------------------------------------------


def test_five_agents_with_versions_mostly_in_the_cloud(runs: dict[str, list[Event]]) -> None:
    starts = [run[0] for run in runs.values()]
    versions = defaultdict(set)
    for start in starts:
        versions[start["agent"]["name"]].add(start["agent"]["version"])
    assert len(versions) == 5
    assert versions["invoice-bot"] == {"1.4.0", "1.4.1"}
    environments = Counter(start["data"]["environment"] for start in starts)
    assert set(environments) == {"cloud", "local", "docker"}
    assert environments["cloud"] > 0.6 * len(starts)


def test_runs_follow_a_daily_rhythm(runs: dict[str, list[Event]]) -> None:
    hours = Counter(_ts(run[0]).hour for run in runs.values())
    working = sum(hours[h] for h in range(8, 18)) / 10
    night = sum(hours[h] for h in range(0, 6)) / 6
    assert working > 3 * night
    days = {_ts(run[0]).date() for run in runs.values()}
    assert len(days) >= DAYS - 1


# NDJSON and live runs ------------------------------------------------------------------


def test_the_ndjson_lines_hold_the_same_events() -> None:
    lines = list(iter_demo_ndjson(seed=2, now=NOW, runs=20))
    assert all(line.endswith("\n") and line.count("\n") == 1 for line in lines)
    assert [json.loads(line) for line in lines] == generate_demo_events(seed=2, now=NOW, runs=20)


def test_running_runs_started_minutes_ago_and_have_not_ended(live: list[Event]) -> None:
    live_runs = _by_run(live)
    assert len(live_runs) == 2
    for run in live_runs.values():
        assert run[0]["type"] == "run_start"
        assert timedelta(seconds=30) < NOW - _ts(run[0]) < timedelta(minutes=30)
        assert all(_ts(e) <= NOW for e in run)
        assert not any(e["type"] in {"run_end", "error"} for e in run)
        assert _final_status(run) == "running"


def test_running_runs_can_be_replayed_to_their_end(live: list[Event]) -> None:
    full = _by_run(running_run_events(seed=7, now=NOW, include_future=True))
    for run_id, run in _by_run(live).items():
        assert full[run_id][: len(run)] == run
        assert _ts(full[run_id][-1]) > NOW
        assert _final_status(full[run_id]) == "succeeded"


def test_ndjson_can_include_the_running_runs(live: list[Event]) -> None:
    lines = list(iter_demo_ndjson(seed=7, now=NOW, runs=10, include_running=True))
    run_ids = {json.loads(line)["run_id"] for line in lines}
    assert {e["run_id"] for e in live} <= run_ids
