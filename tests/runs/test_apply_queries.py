"""Batch apply costs the same number of queries for 2 runs as for 20: no per-run query
inside the batch loop. A query per run would cost a round trip per run under load."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import apply_now, ev


def runs_of(count: int, *, prefix: str, at: float = 0, errors: bool = False) -> list[dict]:
    events = []
    for n in range(count):
        run = f"{prefix}{n}"
        events += [
            ev("run_start", run, at=at, seq=0, inputs={"n": n}),
            ev("status", run, at=at + 0.1, seq=1, status="running"),
            ev("tool_start", run, at=at + 0.2, seq=2, tool_name="search", span_id="t1"),
            ev("tool_end", run, at=at + 0.3, seq=3, tool_name="search", span_id="t1", output=1),
            ev("llm_new_token", run, at=at + 0.4, seq=4, token="Hi", model="gpt-4o", call_id="c"),
            ev("usage", run, at=at + 0.5, seq=5, model="gpt-4o", input_tokens=10,
               output_tokens=1, call_id="c"),
            ev("log", run, at=at + 0.6, seq=6, message="done", level="info"),
            ev("tool_usage", run, at=at + 0.7, seq=7, tool="search"),
        ]  # fmt: skip
        if errors:
            events += [
                ev("revenue", run, at=at + 0.8, seq=8, kind="charge", amount="1.00",
                   currency="USD", external_id=f"ch_{run}"),
                ev("error", run, at=at + 0.9, seq=9, error={"type": "KeyError", "message": "k"}),
            ]  # fmt: skip
        else:
            events.append(ev("run_end", run, at=at + 0.9, seq=8, outputs="ok"))
    return events


def queries_to_apply(project, events: list[dict]) -> int:
    with CaptureQueriesContext(connection) as captured:
        apply_now(project, events)
    return len(captured.captured_queries)


@pytest.fixture(autouse=True)
def one_shard(settings):
    """Every run in one batch: what is counted is the queries of one apply."""
    settings.INGEST_SHARDS = 1


@pytest.fixture
def warm(project):
    """The day's event partition exists: its one-off CREATE is not what is counted."""
    apply_now(project, runs_of(1, prefix="warm"))


def test_new_runs_cost_the_same_queries_whatever_their_number(project, warm):
    few = queries_to_apply(project, runs_of(2, prefix="a"))
    many = queries_to_apply(project, runs_of(20, prefix="b"))
    assert many == few


def test_late_events_of_known_runs_cost_the_same_queries_whatever_their_number(project):
    apply_now(project, runs_of(2, prefix="a") + runs_of(20, prefix="b"))
    few = queries_to_apply(project, runs_of(2, prefix="a", at=5))
    many = queries_to_apply(project, runs_of(20, prefix="b", at=5))
    assert many == few


def test_errors_and_revenue_cost_the_same_queries_whatever_the_number_of_runs(project, warm):
    few = queries_to_apply(project, runs_of(2, prefix="a", errors=True))
    many = queries_to_apply(project, runs_of(20, prefix="b", errors=True))
    assert many == few
