"""What must hold after a fault: every acknowledged event stored exactly once, run
totals exact, and no request's events stored in part."""

from collections import Counter, defaultdict
from decimal import Decimal

import psycopg

from runs.models import Run
from tests.conftest import apply_now
from tests.faults.load import Request

TOTALS = ("event_count", "tool_calls", "tool_errors", "llm_calls", "token_count",
          "input_tokens", "output_tokens", "cost", "status")  # fmt: skip


def stored_event_ids(conn: psycopg.Connection, project_id: int) -> Counter:
    """How often each event id is stored (streamed tokens fold into calls: not here)."""
    rows = conn.execute(
        "SELECT event_id, count(*) FROM runs_event WHERE project_id = %s GROUP BY event_id",
        [project_id],
    ).fetchall()
    return Counter(dict(rows))


def stored_runs(conn: psycopg.Connection, project_id: int) -> dict[str, dict]:
    columns = ", ".join(TOTALS)
    cursor = conn.execute(
        f"SELECT run_id, {columns} FROM runs_run WHERE project_id = %s", [project_id]
    )
    return {row[0]: dict(zip(TOTALS, row[1:], strict=True)) for row in cursor.fetchall()}


def stored_tokens(conn: psycopg.Connection, project_id: int) -> dict[str, str]:
    """Each run's streamed text, all its calls in call order."""
    rows = conn.execute(
        "SELECT r.run_id, string_agg(c.text, '' ORDER BY c.call_id) FROM runs_llmcall c "
        "JOIN runs_run r ON r.id = c.run_id WHERE c.project_id = %s GROUP BY r.run_id",
        [project_id],
    ).fetchall()
    return dict(rows)


def expected_totals(project, events: list[dict]) -> dict[str, dict]:
    """The totals Studio computes from these events applied once, in order, in this process
    (on the test database)."""
    for start in range(0, len(events), 2000):
        apply_now(project, events[start : start + 2000])
    runs = Run.objects.filter(project=project).values("run_id", *TOTALS)
    return {run.pop("run_id"): run for run in runs}


def assert_exactly_once(conn, project_id: int, requests: list[Request], project) -> None:
    """Every acknowledged event is stored once; each run's totals are what applying the
    acknowledged events once gives; no request is stored in part."""
    acknowledged = _unique(e for r in requests if r.acknowledged for e in r.events)
    assert acknowledged, "nothing was acknowledged: the test proved nothing"
    ids = stored_event_ids(conn, project_id)
    stored_ok = {e["event_id"] for e in acknowledged if e["type"] != "llm_new_token"}
    missing = sorted(stored_ok - set(ids))
    twice = sorted(i for i, n in ids.items() if n > 1)
    assert not missing, f"{len(missing)} acknowledged events missing, e.g. {missing[:5]}"
    assert not twice, f"{len(twice)} events stored more than once, e.g. {twice[:5]}"

    for request in requests:  # all or nothing, acknowledged or not
        wanted = {e["event_id"] for e in request.events if e["type"] != "llm_new_token"}
        present = wanted & set(ids)
        assert present in (set(), wanted), (
            f"a request answered {request.answers} is stored in part: "
            f"{len(present)} of {len(wanted)} events"
        )
    unacknowledged = [r for r in requests if not r.acknowledged]
    # Stored though never acknowledged: only where no answer came (the commit may have
    # happened); a 503 means nothing was kept.
    for request in unacknowledged:
        if all(status == 503 for status, _ in request.answers):
            ids_of = {e["event_id"] for e in request.events}
            assert not ids_of & set(ids), f"a request answered only 503 was stored: {request}"

    stored = _unique(e for r in requests if _stored(r, ids) for e in r.events)
    runs = stored_runs(conn, project_id)
    expected = expected_totals(project, stored)
    assert set(runs) == set(expected)
    wrong = {run: (runs[run], want) for run, want in expected.items() if runs[run] != want}
    assert not wrong, f"{len(wrong)} runs with wrong totals, e.g. {next(iter(wrong.items()))}"
    _assert_plain_totals(runs, stored)
    texts = stored_tokens(conn, project_id)
    for run_id, tokens in _tokens_by_run(stored).items():
        assert texts.get(run_id) == "".join(tokens), f"streamed text of {run_id} differs"


def _unique(events) -> list[dict]:
    return list({e["event_id"]: e for e in events}.values())


def _stored(request: Request, ids: Counter) -> bool:
    return request.acknowledged or any(e["event_id"] in ids for e in request.events)


def _assert_plain_totals(runs: dict[str, dict], events: list[dict]) -> None:
    """The workload's own arithmetic, independent of Studio's: tool calls, tokens."""
    tools: Counter = Counter()
    tokens: Counter = Counter()
    usage: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in events:
        if e["type"] == "tool_start":
            tools[e["run_id"]] += 1
        elif e["type"] == "llm_new_token":
            tokens[e["run_id"]] += 1
        elif e["type"] == "usage":
            usage[e["run_id"]][0] += e["data"]["input_tokens"]
            usage[e["run_id"]][1] += e["data"]["output_tokens"]
    for run_id, run in runs.items():
        assert run["tool_calls"] == tools[run_id], run_id
        assert run["token_count"] == tokens[run_id], run_id
        assert [run["input_tokens"], run["output_tokens"]] == usage[run_id], run_id
        if usage[run_id][0]:
            assert run["cost"] > Decimal(0), f"{run_id} has usage of a priced model, no cost"


def _tokens_by_run(events: list[dict]) -> dict[str, list[str]]:
    tokens: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for e in events:
        if e["type"] == "llm_new_token":
            tokens[e["run_id"]].append((e["seq"], e["data"]["token"]))
    return {run: [text for _, text in sorted(pairs)] for run, pairs in tokens.items()}
