"""Apply a batch of validated events to the database: one transaction, idempotent.

The order of work inside the transaction:
1. lock the batch's stored runs, in id order, so workers applying events of the same
   run take turns; a run not stored yet gets its id from the sequence, and its row is
   written once, whole, at the end;
2. insert the events (plainly; again with ON CONFLICT DO NOTHING when one was stored
   before): only new events change counters, so a re-sent event is never counted twice;
3. fold the new events into each run, LLM call, tool span, error group and revenue
   row, and move the rollups by the difference each run's contribution made;
4. update the stored runs and insert the new ones. A new run that another worker
   stored meanwhile (its insert waits for that worker's commit, then conflicts) undoes
   the apply to its savepoint, and it starts again with that run locked like any other.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from msgspec.structs import replace

from billing.prices import usage_pricer
from runs.ingest import calls, errors, spans
from runs.ingest.revenue import RevenueRollup, revenue_apply, revenue_rollups_write
from runs.ingest.rollups import (
    Contribution,
    add_into,
    daily_key,
    day_of,
    hour_of,
    nonzero,
    regroup,
    run_contribution,
)
from runs.ingest.runstate import RunState, StatusKey, fold_run, new_run_state
from runs.ingest.tool_usage import tool_usage_rollup_write
from runs.models import USAGE_SUMS, Run
from runs.protocol import Event
from runs.protocol.codec import dumps_data
from studio.sql import bulk_cursor, insert_models, update_rows, upsert_add

# The run columns a RunState holds: its fields that are Run columns, bar the run id.
_RUN_STATE_FIELDS = tuple(
    name
    for name in RunState.__struct_fields__
    if name != "run_id" and name in {c.attname for c in Run._meta.concrete_fields}
)


@dataclass
class ApplyResult:
    inserted: int = 0
    duplicates: int = 0
    late: int = 0  # new events for runs that had already finished
    runs: dict[str, str] = field(default_factory=dict)  # run_id -> status after the batch


class _RunStoredMeanwhile(Exception):
    """A run this apply found missing was stored by another worker before it could."""


_APPLY_ATTEMPTS = 3  # a run stored meanwhile is rare; twice in a row rarer still


def events_apply(*, project_id: int, organization_id: int, events: list[Event]) -> ApplyResult:
    """Apply events of one project. Call inside a transaction; the caller commits."""
    if not events:
        return ApplyResult()
    for attempt in range(_APPLY_ATTEMPTS):
        try:
            with transaction.atomic():  # a savepoint, to start again from
                return _events_apply(project_id, organization_id, events)
        except _RunStoredMeanwhile:
            if attempt == _APPLY_ATTEMPTS - 1:
                raise


def _events_apply(project_id: int, organization_id: int, events: list[Event]) -> ApplyResult:
    result = ApplyResult()
    tokens = [e for e in events if e.type == "llm_new_token"]
    others = _unique([e for e in events if e.type != "llm_new_token"])
    runs, created = _lock_runs(project_id, events)
    others = _without_resent_stream_lines(project_id, runs, created, others)
    new_events = _insert_events(project_id, runs, others)
    result.inserted = len(new_events)
    result.duplicates = len(events) - len(tokens) - len(new_events)

    by_run: dict[str, list[Event]] = defaultdict(list)
    for event in new_events:
        by_run[event.run_id].append(event)
    tokens_by_run: dict[str, list[Event]] = defaultdict(list)
    for event in tokens:
        tokens_by_run[event.run_id].append(event)
    # A new run all of whose events were stored before (their ids and times are another
    # run's: the key is the project's, not the run's) has nothing of its own: no run.
    for run_id in [r for r in created if r not in by_run and r not in tokens_by_run]:
        del runs[run_id]
        created.discard(run_id)

    call_changes = calls.calls_apply(
        runs=list(runs.values()),
        tokens=tokens_by_run,
        usage={run: [e for e in evs if e.type in calls.USAGE_TYPES] for run, evs in by_run.items()},
        price=usage_pricer(organization_id),
        created=created,
    )
    usage_delta: Contribution = {}
    duration_delta: Contribution = {}
    revenue_delta: RevenueRollup = {}
    tool_delta: dict[tuple, int] = defaultdict(int)
    tool_hourly: dict[tuple, int] = defaultdict(int)
    for run_id, run in runs.items():
        run_events, run_tokens = by_run.get(run_id, []), tokens_by_run.get(run_id, [])
        before = None if run_id in created else _state_of(run)
        if before is not None and before.terminal:
            result.late += len(run_events)
        after = fold_run(
            before or new_run_state(run_id, run_events + run_tokens),
            run_events,
            token_times=[t.ts for t in run_tokens],
            new_tokens=call_changes[run_id].new_tokens,
        )
        _move_run_rollups(before, after, usage_delta, duration_delta)
        _move_tool_usage(before, after, tool_delta, tool_hourly)
        calls.move_call_rollups(run, before, after, call_changes[run_id], usage_delta)
        _write_state(run, after)
        run.stalled = False
        result.runs[run_id] = after.status
    errors.errors_apply(runs=[(run, by_run.get(run_id, [])) for run_id, run in runs.items()])
    revenue_apply(
        runs=[
            (run, [e for e in by_run.get(run_id, ()) if e.type == "revenue"])
            for run_id, run in runs.items()
        ],
        rollup=revenue_delta,
    )
    spans.spans_apply(
        project_id=project_id, runs=list(runs.values()), events=by_run, created=created
    )
    stored = [run for run_id, run in runs.items() if run_id not in created]
    update_rows(Run, stored, exclude=("project_id", "run_id"))
    _insert_new_runs([runs[run_id] for run_id in sorted(created)])
    # Every rollup is written once per batch, table after table in one order and each
    # table's rows sorted by key: workers lock rollup rows in the same order.
    _upsert_usage(project_id, nonzero(usage_delta))
    _upsert_durations(project_id, nonzero(duration_delta))
    revenue_rollups_write(project_id=project_id, daily=revenue_delta)
    tool_usage_rollup_write(project_id=project_id, delta=tool_delta, hourly=tool_hourly)
    return result


def _unique(events: list[Event]) -> list[Event]:
    # The same event twice in one batch: keep one, as the database would. A stream line
    # is the same line whenever it was received, and batches joined in one apply may hold
    # one capture twice, so it is known by its id alone: its first receipt is kept.
    seen: dict[str | tuple[str, datetime], Event] = {}
    for event in events:
        key = event.event_id
        if not key.startswith(STREAM_ID_PREFIX):
            key = (event.event_id, event.ts)
        held = seen.get(key)
        if held is None or event.ts < held.ts:
            seen[key] = event
    return list(seen.values())


def _lock_runs(project_id: int, events: list[Event]) -> tuple[dict[str, Run], set[str]]:
    """Lock every stored run the batch touches, in id order, and make the others, with
    ids from the sequence (they are inserted at the end, whole).

    Returns the runs by run_id and the run_ids not stored yet.
    """
    run_ids = sorted({e.run_id for e in events})
    found = {
        r.run_id: r
        for r in Run.objects.select_for_update()
        .filter(project_id=project_id, run_id__in=run_ids)
        .order_by("id")
    }
    missing = [run_id for run_id in run_ids if run_id not in found]
    if missing:
        first_seen = _first_times(events)
        for run_id, pk in zip(missing, _new_run_ids(len(missing)), strict=True):
            found[run_id] = Run(
                pk=pk,
                project_id=project_id,
                run_id=run_id,
                started_at=first_seen[run_id],
                first_event_at=first_seen[run_id],
                last_event_at=first_seen[run_id],
            )
    return found, set(missing)


def _new_run_ids(count: int) -> list[int]:
    with bulk_cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('runs_run', 'id')) FROM generate_series(1, %s)",
            [count],
        )
        return [row[0] for row in cursor.fetchall()]


def _insert_new_runs(runs: list[Run]) -> None:
    """Insert the runs this apply made, in run_id order (one order for every worker).

    Their foreign keys are checked at commit (Django makes them deferrable), so the
    events, calls and spans written before them are in order."""
    if len(insert_models(runs, ignore_conflicts=True, returning="id")) < len(runs):
        raise _RunStoredMeanwhile


def _first_times(events: list[Event]) -> dict[str, datetime]:
    first: dict[str, datetime] = {}
    for event in events:
        if event.run_id not in first or event.ts < first[event.run_id]:
            first[event.run_id] = event.ts
    return first


STREAM_ID_PREFIX = "cs-"  # ids derived from a Charm stream's run, position and content


def _without_resent_stream_lines(
    project_id: int, runs: dict[str, Run], created: set[str], events: list[Event]
) -> list[Event]:
    """Drop stream lines this project already stored.

    A stream line's id is fixed by its run, position and content, but its ts is when it
    was received: a re-sent capture comes with new times, so the primary key (which must
    hold ts, the partition column) would not see it again. Its run's stored events lie
    between the run's first and last event time, which bounds the look-up to those days.
    """
    candidates = [
        e for e in events if e.run_id not in created and e.event_id.startswith(STREAM_ID_PREFIX)
    ]
    if not candidates:
        return events
    involved = [runs[run_id] for run_id in {e.run_id for e in candidates}]
    with bulk_cursor() as cursor:
        cursor.execute(
            """
            SELECT event_id FROM runs_event
            WHERE project_id = %s AND event_id = ANY(%b::text[]) AND ts BETWEEN %s AND %s
            """,
            [
                project_id,
                [e.event_id for e in candidates],
                min(run.first_event_at for run in involved),
                max(run.last_event_at for run in involved),
            ],
        )
        known = {row[0] for row in cursor.fetchall()}
    if not known:
        return events
    return [e for e in events if e.event_id not in known]


def _insert_events(project_id: int, runs: dict[str, Run], events: list[Event]) -> list[Event]:
    """Insert events, skipping ones already stored; return the ones that were new.

    A batch seldom holds an event stored before (a client's retry does), so it is first
    inserted plainly, in a savepoint; only when that meets a stored one is it inserted
    again with ON CONFLICT DO NOTHING, which costs about half as much again per row
    every time. Arrays go as binary parameters (%b): as text, every quote in the JSON
    would be escaped in Python first."""
    if not events:
        return []
    params = [
        project_id,
        [e.event_id for e in events],
        [e.ts for e in events],
        [runs[e.run_id].pk for e in events],
        [e.type for e in events],
        [e.seq for e in events],
        [_event_data_json(e) for e in events],
    ]
    try:
        with transaction.atomic(), bulk_cursor() as cursor:
            cursor.execute(_INSERT_EVENTS, params)
        return events
    except IntegrityError as error:
        if getattr(error.__cause__, "sqlstate", None) != UNIQUE_VIOLATION:
            raise
    # The key is (event_id, ts); the ids alone tell what was new when they are unique in
    # the batch, as they nearly always are, and they are cheaper to read back.
    by_id = len({e.event_id for e in events}) == len(events)
    with bulk_cursor() as cursor:
        returning = "event_id" if by_id else "event_id, ts"
        cursor.execute(f"{_INSERT_EVENTS} ON CONFLICT DO NOTHING RETURNING {returning}", params)
        inserted = set(cursor.fetchall())
    if by_id:
        return [e for e in events if (e.event_id,) in inserted]
    return [e for e in events if (e.event_id, e.ts) in inserted]


UNIQUE_VIOLATION = "23505"
_INSERT_EVENTS = """
    INSERT INTO runs_event (project_id, event_id, ts, run_pk, type, seq, data)
    SELECT %s, e.event_id, e.ts, e.run_pk, e.type, e.seq, e.data::jsonb
    FROM unnest(%b::text[], %b::timestamptz[], %b::bigint[], %b::text[],
                %b::bigint[], %b::text[]) AS e(event_id, ts, run_pk, type, seq, data)
"""


def _event_data_json(event: Event) -> str:
    data = event.data
    if event.agent_name:  # kept so the events API can give the event back as it came
        data = {**data, "_agent": {"name": event.agent_name, "version": event.agent_version}}
    return dumps_data(data)


def _state_of(run: Run) -> RunState:
    key = None
    if run.status_ts is not None:
        key = StatusKey(run.status_rank, run.status_ts, run.status_seq, run.status_event_id)
    values = {name: getattr(run, name) for name in _RUN_STATE_FIELDS}
    state = RunState(run_id=run.run_id, status_key=key, **values)
    # A stored duration that is not the timed one was reported by the process's runner.
    if (
        run.exit_code is not None
        and state.ended_at is not None
        and run.duration_ms is not None
        and run.duration_ms != state.timed_duration_ms
    ):
        state = replace(state, reported_duration_ms=run.duration_ms)
    return state


def _write_state(run: Run, state: RunState) -> None:
    for name in _RUN_STATE_FIELDS:
        setattr(run, name, getattr(state, name))
    key = state.status_key
    run.status_terminal = bool(key and key.terminal)
    run.status_rank = key.rank if key else 0
    run.status_ts = key.ts if key else None
    run.status_seq = key.seq if key else -1
    run.status_event_id = key.event_id if key else ""
    run.duration_ms = state.duration_ms


def _move_run_rollups(
    before: RunState | None, after: RunState, usage: Contribution, durations: Contribution
) -> None:
    old_usage, old_durations = run_contribution(before)
    new_usage, new_durations = run_contribution(after)
    add_into(usage, old_usage, -1)
    add_into(usage, new_usage)
    add_into(durations, old_durations, -1)
    add_into(durations, new_durations)


def _move_tool_usage(
    before: RunState | None, after: RunState, delta: dict[tuple, int], hourly: dict[tuple, int]
) -> None:
    """Billable tool uses count on the day (and hour) the run started, under its agent:
    a run that moved (a late start named it) takes its earlier uses along."""
    for state, sign in ((before, -1), (after, 1)):
        if state is None:
            continue
        day, hour = day_of(state.started_at), hour_of(state.started_at)
        for tool, count in state.tool_usage.items():
            delta[(day, state.agent_name, tool)] += sign * count
            hourly[(hour, state.agent_name, state.environment, tool)] += sign * count


def _upsert_usage(project_id: int, delta: Contribution) -> None:
    """Add the hourly delta into `UsageHourly`, and the same regrouped per day into
    `UsageDaily`: the daily table stays the sum of the hourly one."""
    keys = ("agent_name", "model", "environment")
    _upsert("runs_usagehourly", ("hour", *keys), USAGE_SUMS, project_id, delta)
    daily = regroup(delta, daily_key)
    _upsert("runs_usagedaily", ("day", *keys), USAGE_SUMS, project_id, daily)


def _upsert_durations(project_id: int, delta: Contribution) -> None:
    keys = ("agent_name", "environment", "bucket")
    _upsert("runs_durationhourly", ("hour", *keys), ("count",), project_id, delta)
    daily = regroup(delta, daily_key)
    _upsert("runs_durationdaily", ("day", *keys), ("count",), project_id, daily)


def _upsert(
    table: str, keys: tuple[str, ...], sums: tuple[str, ...], project_id: int, delta: Contribution
) -> None:
    rows = [
        (project_id, *key, *(delta[key].get(name, 0) for name in sums))
        for key in sorted(delta)  # one order for every worker: fewer deadlocks
    ]
    upsert_add(table, ("project_id", *keys), sums, rows)
