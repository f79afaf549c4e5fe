"""A live run's next batch updates its rows in place: PostgreSQL makes a HOT update,
which writes no index, when no indexed column changed and the page has room. A run has
eleven indexes and is updated by every batch of its events, so an indexed column that
moves with each batch (as last_event_at once did) would write all eleven every time."""

from django.db import connection

from tests.conftest import apply_now, ev

TABLES = ("runs_run", "runs_llmcall", "runs_toolspan")


def updates_in_this_transaction() -> dict[str, tuple[int, int]]:
    """(updates, HOT updates) of each table so far in the test's transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
            "WHERE relname = ANY(%s)",
            [list(TABLES)],
        )
        return {name: (updated, hot) for name, updated, hot in cursor.fetchall()}


def test_a_live_runs_next_batch_updates_its_run_call_and_span_rows_in_place(project):
    apply_now(
        project,
        [
            ev("run_start", "live", at=0, seq=0, inputs={"q": "refund"}),
            ev("status", "live", at=0.1, seq=1, status="running"),
            ev("tool_start", "live", at=0.2, seq=2, tool_name="search", span_id="t1"),
            ev("llm_new_token", "live", at=0.3, seq=3, token="Hel", model="gpt-4o", call_id="c"),
        ],
    )
    before = updates_in_this_transaction()

    apply_now(
        project,
        [
            ev("tool_end", "live", at=1.2, seq=4, tool_name="search", span_id="t1", output=3),
            ev("llm_new_token", "live", at=1.3, seq=5, token="lo", model="gpt-4o", call_id="c"),
            ev("log", "live", at=1.4, seq=6, message="two hits", level="info"),
        ],
    )
    after = updates_in_this_transaction()

    for table in TABLES:
        updated = after[table][0] - before.get(table, (0, 0))[0]
        hot = after[table][1] - before.get(table, (0, 0))[1]
        assert updated >= 1, f"{table}: the second batch updated nothing"
        assert hot == updated, f"{table}: {updated - hot} of {updated} updates wrote indexes"
