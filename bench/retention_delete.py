"""What per-project retention costs when a day cannot be dropped whole: the chunked
DELETE of `runs.retention.partition_purge` on one day partition.

Needs PostgreSQL (a role allowed to create databases); `DATABASE_URL` names the server.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
    REDIS_URL=redis://127.0.0.1:6379/0 SECRET_KEY=x \\
    .venv/bin/python -m bench.retention_delete --events 1000000

It creates a throwaway database `bench_retention` with only the event table and one day
partition, fills it in SQL with `--events` events of 10 projects (each with runs of 200
events), deletes the events of 5 of them and prints the time, rows per second, the
longest chunk, and how long one probe of an already purged day takes.
"""

import argparse
import importlib
import os
import time
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import psycopg

DB = "bench_retention"
DAY = date(2026, 1, 15)


def server_url(name: str) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{name}"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB}")
        conn.execute(f"CREATE DATABASE {DB}")
    os.environ["DATABASE_URL"] = server_url(DB)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    import django

    django.setup()
    from django.db import connection

    from runs import retention
    from runs.partitions import ensure_partitions

    create = importlib.import_module("runs.migrations.0002_event_partitions").CREATE
    with connection.cursor() as cursor:
        cursor.execute(create)
    ensure_partitions({DAY})
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO runs_event (project_id, event_id, ts, run_pk, type, data) "
            "SELECT n %% 10 + 1, 'e' || n, %s + (n * 80) * interval '1 ms', n / 200, 'log', "
            "jsonb_build_object('message', 'line ' || n, 'level', 'info') "
            "FROM generate_series(1, %s) n",
            [start, args.events],
        )
        cursor.execute("VACUUM ANALYZE runs_event")
    print(f"filled {args.events:,} events in {time.perf_counter() - began:.1f} s")

    chunks: list[float] = []
    real_atomic = retention.transaction.atomic

    class timed:  # times each chunk's transaction
        def __enter__(self):
            self.t = time.perf_counter()
            self.inner = real_atomic()
            return self.inner.__enter__()

        def __exit__(self, *exc):
            result = self.inner.__exit__(*exc)
            chunks.append(time.perf_counter() - self.t)
            return result

    retention.transaction.atomic = timed
    began = time.perf_counter()
    deleted = retention.partition_purge(DAY, [1, 2, 3, 4, 5], before=start + timedelta(days=1))
    took = time.perf_counter() - began
    print(
        f"deleted {deleted:,} events of 5 of 10 projects in {took:.1f} s "
        f"({deleted / took:,.0f} rows/s), {len(chunks)} chunks of {retention.CHUNK:,}, "
        f"longest chunk {max(chunks) * 1000:.0f} ms, median "
        f"{sorted(chunks)[len(chunks) // 2] * 1000:.0f} ms"
    )
    began = time.perf_counter()
    retention.partition_purge(DAY, [1, 2, 3, 4, 5], before=start + timedelta(days=1))
    print(f"probe of the purged day: {(time.perf_counter() - began) * 1000:.1f} ms")
    connection.close()
    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB}")


if __name__ == "__main__":
    main()
