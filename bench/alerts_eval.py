"""How long one alert evaluation pass takes over a project with 1M runs.

Run from the repository root, with the server URLs set (the database named in
DATABASE_URL is only used to reach the server):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
    REDIS_URL=redis://127.0.0.1:6379/0 SECRET_KEY=x .venv/bin/python -m bench.alerts_eval

It creates a throwaway database `bench_alerts`, migrates it, and fills, straight in SQL
(generate_series), what 90 days of a busy project leave behind:

  runs:    1,000,000 in runs_run over 90 days (10 agents × 3 environments), 0.5% of
           them still running, some of those with no event for hours (stalled)
  usage:   every hour × agent × environment: a run row and 2 model rows in
           runs_usagehourly (194,400 rows), and 2 tools in billing_toolusagehourly
  errors:  20,000 error groups, first and last seen spread over the 90 days
  revenue: billing_revenueagentdaily per day × agent × 3 currencies
  ingest:  200,000 applied batches, a few pending and failed

Then it adds `--rules-per-kind` rules of each of the six kinds (half narrowed to one
agent and environment), runs `alerts_evaluate` `--passes` times and prints the time of
one pass (p50 and max), the time per rule by kind, and the queries per pass. The first
pass opens the incidents; the later ones are the steady state beat sees every minute.
The database is dropped at the end (--keep keeps it).
"""

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from urllib.parse import urlsplit, urlunsplit

import psycopg

DB_NAME = "bench_alerts"
DAYS = 90
AGENTS = 10
RUNS = 1_000_000
ERROR_GROUPS = 20_000
BATCHES = 200_000
KINDS = ("failure_rate", "new_error_group", "stalled", "cost_spike", "refunds", "ingest")


def server_url(database: str) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{database}"))


def admin_sql(statement: str) -> None:
    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        conn.execute(statement)


def fill(project_id: int) -> None:
    from django.db import connection

    hours = f"""generate_series(date_trunc('hour', now()) - interval '{DAYS} days',
                                date_trunc('hour', now()), interval '1 hour') h"""
    envs = "unnest(array['cloud', 'local', 'docker']) e"
    steps = [
        (
            "runs",
            f"""
            INSERT INTO runs_run (project_id, run_id, agent_name, agent_version, environment,
                status, status_message, status_terminal, status_rank, status_seq,
                status_event_id, stalled, started_at, has_run_start, ended_at, duration_ms,
                first_event_at, last_event_at, input_fingerprint, runtime, config,
                error_type, error_message, event_count, tool_calls, tool_errors, llm_calls,
                token_count, input_tokens, output_tokens, cache_read_tokens,
                cache_write_tokens, cost, unpriced_calls, revenue, output_format, thread_id,
                next_step, artifacts, tool_usage)
            SELECT {project_id}, 'run_' || i, 'agent-' || (i % {AGENTS}), '1.0',
                (array['cloud', 'local', 'docker'])[1 + i % 3],
                CASE WHEN i % 200 = 0 THEN 'running' WHEN i % 10 = 0 THEN 'failed'
                     ELSE 'succeeded' END,
                '', i % 200 <> 0, 0, -1, '', false, t.ts, true,
                CASE WHEN i % 200 = 0 THEN NULL ELSE t.ts + interval '20 seconds' END,
                CASE WHEN i % 200 = 0 THEN NULL ELSE 20000 END,
                t.ts, CASE WHEN i % 200 = 0 THEN t.ts ELSE t.ts + interval '20 seconds' END,
                '', '{{}}', '{{}}', '', '', 10, 2, 0, 1, 0, 1200, 300, 0, 0, 0.0045, 0,
                '{{}}', '', '', '', '[]', '{{}}'
            FROM generate_series(1, {RUNS}) i,
                 LATERAL (SELECT now() - (i::float / {RUNS}) * interval '{DAYS} days' AS ts) t
            """,
        ),
        (
            "usage hourly",
            f"""
            INSERT INTO runs_usagehourly (project_id, hour, agent_name, model, environment,
                runs, failures, finished, duration_ms_sum, llm_calls, input_tokens,
                output_tokens, cache_read_tokens, cache_write_tokens, cost, unpriced_calls)
            SELECT {project_id}, h, 'agent-' || a, m.model, e,
                CASE WHEN m.model = '' THEN 15 ELSE 0 END,
                CASE WHEN m.model = '' THEN 1 + a % 3 ELSE 0 END,
                CASE WHEN m.model = '' THEN 15 ELSE 0 END, 0,
                CASE WHEN m.model = '' THEN 0 ELSE 8 END, 9600, 2400, 0, 0,
                CASE WHEN m.model = '' THEN 0 ELSE round((0.036 * (1 + a % 3))::numeric, 10) END,
                0
            FROM {hours}, generate_series(0, {AGENTS - 1}) a, {envs},
                 unnest(array['', 'gpt-4o', 'claude-sonnet-4-5']) m(model)
            """,
        ),
        (
            "tool usage hourly",
            f"""
            INSERT INTO billing_toolusagehourly (project_id, hour, agent_name, environment,
                tool, count)
            SELECT {project_id}, h, 'agent-' || a, e, tool, 3
            FROM {hours}, generate_series(0, {AGENTS - 1}) a, {envs},
                 unnest(array['search', 'get_weather']) tool
            """,
        ),
        (
            "error groups",
            f"""
            INSERT INTO runs_errorgroup (project_id, fingerprint, fingerprint_version, kind,
                error_type, title, message, traceback, first_seen, last_seen, event_count,
                run_count, agents)
            SELECT {project_id}, md5(i::text), 1, 'run', 'ValueError', 'ValueError: case ' || i,
                'case ' || i, '', now() - (i::float / {ERROR_GROUPS}) * interval '{DAYS} days',
                now() - (i::float / {ERROR_GROUPS}) * interval '{DAYS // 2} days', 5, 3,
                array['agent-' || (i % {AGENTS})]
            FROM generate_series(1, {ERROR_GROUPS}) i
            """,
        ),
        (
            "revenue per agent",
            f"""
            INSERT INTO billing_revenueagentdaily (project_id, day, agent_name, currency,
                charges, subscriptions, refunds, credits, payouts, events)
            SELECT {project_id}, d::date, 'agent-' || a, c, 900, 100, 40 + a * 5, 0, 0, 120
            FROM generate_series(now() - interval '{DAYS} days', now(), interval '1 day') d,
                 generate_series(0, {AGENTS - 1}) a, unnest(array['USD', 'EUR', 'GBP']) c
            """,
        ),
        (
            "ingest batches",
            f"""
            INSERT INTO runs_ingestbatch (project_id, source, status, received_at, applied_at,
                attempts, last_error, event_count, rejected_count, rejections, noted_count,
                duplicate_count, late_count, payload)
            SELECT {project_id}, 'http',
                CASE WHEN i <= 3 THEN 'pending' WHEN i <= 5 THEN 'failed' ELSE 'applied' END,
                now() - (i::float / {BATCHES}) * interval '7 days' - interval '10 minutes',
                now(), 1, '', 500, 0, '[]', 0, 0, 0, '[]'
            FROM generate_series(1, {BATCHES}) i
            """,
        ),
    ]
    with connection.cursor() as cursor:
        for name, sql in steps:
            started = time.perf_counter()
            cursor.execute(sql)
            print(
                f"  {name:<18} {cursor.rowcount:>10,} rows  {time.perf_counter() - started:6.1f} s"
            )
        cursor.execute("ANALYZE")


def add_rules(project, per_kind: int) -> None:
    from alerts.models import Rule
    from alerts.services import rule_create

    thresholds = {"failure_rate": "5", "new_error_group": "0", "stalled": "1",
                  "cost_spike": "3", "refunds": "60", "ingest": "1"}  # fmt: skip
    for kind in KINDS:
        for n in range(per_kind):
            narrowed = n % 2 == 1
            rule_create(
                project=project,
                kind=kind,
                threshold=thresholds[kind],
                window_minutes=60,
                min_runs=5,
                agent_name=f"agent-{n % AGENTS}" if narrowed else "",
                environment="cloud" if narrowed and kind != "refunds" else "",
            )
    # Born before the data, so new error groups count as new.
    Rule.objects.update(created_at="2000-01-01T00:00:00Z")


def run(passes: int, per_kind: int) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from alerts import conditions
    from alerts.evaluation import alerts_evaluate
    from studio.services import organization_get_or_create, project_get_or_create

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"migrated {DB_NAME} in {time.perf_counter() - started:.1f} s; filling:")
    org = organization_get_or_create(name="Bench")
    project = project_get_or_create(organization=org, name="Bench agents")
    fill(project.id)
    add_rules(project, per_kind)

    # Time each condition as it runs inside the pass.
    per_kind_times: dict[str, list[float]] = defaultdict(list)
    for kind, condition in list(conditions.CONDITIONS.items()):

        def timed(rule, now, condition=condition, kind=kind):
            began = time.perf_counter()
            try:
                return condition(rule, now)
            finally:
                per_kind_times[kind].append((time.perf_counter() - began) * 1000)

        conditions.CONDITIONS[kind] = timed

    pass_times, queries = [], 0
    for n in range(passes):
        with CaptureQueriesContext(connection) as captured:
            began = time.perf_counter()
            result = alerts_evaluate()
            pass_times.append((time.perf_counter() - began) * 1000)
        queries = len(captured)
        if n == 0:
            print(f"\nfirst pass: {result.rules} rules, {result.opened} incidents opened, "
                  f"{pass_times[0]:.0f} ms, {queries} queries")  # fmt: skip
    steady = pass_times[1:] or pass_times
    print(f"steady passes ({len(steady)}): p50 {statistics.median(steady):.0f} ms, "
          f"max {max(steady):.0f} ms, {queries} queries per pass, "
          f"{len(KINDS) * per_kind} rules")  # fmt: skip
    print(f"\n{'kind':<18} {'ms per rule p50':>16} {'max':>8}")
    for kind in KINDS:
        times = per_kind_times[kind]
        print(f"{kind:<18} {statistics.median(times):16.2f} {max(times):8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passes", type=int, default=6)
    parser.add_argument("--rules-per-kind", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the bench_alerts database")
    args = parser.parse_args()
    if "DATABASE_URL" not in os.environ:
        sys.exit("Set DATABASE_URL to any database on the PostgreSQL server to use.")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME}")
    admin_sql(f"CREATE DATABASE {DB_NAME}")
    os.environ["DATABASE_URL"] = server_url(DB_NAME)
    try:
        run(args.passes, args.rules_per_kind)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
            print(f"dropped {DB_NAME}")


if __name__ == "__main__":
    main()
