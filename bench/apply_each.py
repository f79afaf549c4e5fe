"""The cost of applying batches one at a time, as a worker that keeps up does.

End to end at saturation, batches queue and one apply takes up to 5,000 events of waiting
batches along, so a fixed cost per apply hardly shows. At a rate the workers keep up
with, each 1,000-event request is applied alone, per shard: this measures that case, in
this process, on the mixed workload (a live fleet: each request carries on ~40 open runs).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/0 \\
    .venv/bin/python -m bench.apply_each

It prints the worker's CPU per event and per apply, the SQL time of one apply by
statement, the WAL written per event, and the share of each table's updates PostgreSQL
made in place (HOT, writing no index).
"""

import argparse
import time

from bench.ingest_e2e import (
    QUEUE,
    SqlTimer,
    bench_database_url,
    bench_environment,
    database_drop,
    database_recreate,
    mixed_events,
    setup_project,
    small_heap,
)

WARM_UP = 10  # requests applied before measuring: runs open, partitions made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="mixed runs (100 events each)")
    parser.add_argument("--batch", type=int, default=1000, help="events per request")
    parser.add_argument("--db", default="bench_apply_each")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    db_url = bench_database_url(args.db)
    bench_environment(QUEUE, db_url)
    database_recreate(db_url)
    try:
        measure(args)
    finally:
        if not args.keep_db:
            database_drop(db_url)


def measure(args) -> None:
    from django.db import connection, transaction

    from runs.ingest.inbox import batch_apply, batch_store
    from runs.protocol import validate_event

    project, _ = setup_project()
    events = mixed_events(args.runs)
    requests = [events[i : i + args.batch] for i in range(0, len(events), args.batch)]
    timer, cpu, applies, wal, measured = SqlTimer(), 0.0, 0, 0, 0
    with small_heap():
        for n, request in enumerate(requests):
            parsed = [validate_event(e) for e in request]
            with transaction.atomic():
                batches = batch_store(project=project, events=parsed, rejected=[])
            if n < WARM_UP:
                for batch in batches:
                    batch_apply(batch.pk)
                continue
            wal_before = _wal_position(connection)
            started = time.process_time()
            with timer:
                for batch in batches:  # one a shard, each applied alone
                    batch_apply(batch.pk)
            cpu += time.process_time() - started
            wal += _wal_position(connection) - wal_before
            applies += len(batches)
            measured += len(request)
    sql = sum(timer.seconds.values())
    print(f"{measured:,} events in {applies} applies of one batch each, after {WARM_UP} more")
    for name, seconds in (("worker CPU", cpu), ("SQL wall time", sql)):
        per_event, per_apply = seconds / measured * 1e6, seconds / applies * 1e3
        print(f"{name:15} {per_event:7.1f} µs/event   {per_apply:6.1f} ms/apply")
    print(f"WAL             {wal / measured:7.0f} bytes/event")
    print("\n  ms/apply  calls  statement")
    for label, seconds in timer.seconds.most_common(12):
        print(f"  {seconds / applies * 1e3:8.2f}  {timer.calls[label] / applies:5.1f}  {label}")
    print("\n  in place (HOT)  table")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
            "WHERE n_tup_upd > 0 ORDER BY n_tup_upd DESC LIMIT 8"
        )
        for table, updated, hot in cursor.fetchall():
            print(f"  {hot / updated:6.0%} of {updated:6,}  {table}")


def _wal_position(connection) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
        return int(cursor.fetchone()[0])


if __name__ == "__main__":
    main()
