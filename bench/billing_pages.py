"""How long the usage and revenue pages take at scale, server-side.

Run from the repository root, with the server URLs set (the database named in
DATABASE_URL is only used to reach the server):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
    REDIS_URL=redis://127.0.0.1:6379/0 SECRET_KEY=x .venv/bin/python -m bench.billing_pages

It creates a throwaway database `bench_billing`, migrates it, and fills 90 days of
rollups as 50M events would leave them, plus 1M billing events, straight in SQL
(generate_series): the rollups are what the pages read, so no event is ingested.

  usage: 10 agents × 3 environments × 2 models each, every hour of 90 days
         → 129,600 token rows + 64,800 run rows in runs_usagehourly (2.1M runs,
           10M LLM calls), and 15 duration buckets per hour × agent × environment
           → 972,000 rows in runs_durationhourly; their sums per day in
           runs_usagedaily and runs_durationdaily, as the worker keeps them
  revenue: 1,000,000 billing events over 90 days (USD 70%, EUR 20%, GBP 10%; 5,000
           customers; charges, subscriptions, refunds, credits, payouts), rolled up
           into billing_revenuedaily the way the worker does, and from it into
           billing_revenueweekly, billing_revenuemonthly and billing_revenueagentdaily

Then it times each page through Django's test client (the whole view: middleware,
queries, templates), 50 requests each, and prints p50 / p95 in ms, and the time to
stream the 1M-row CSV export once. The database is dropped at the end (--keep keeps it).
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import psycopg

DB_NAME = "bench_billing"
DAYS = 90
AGENTS = 10
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "claude-haiku-4-5", "o3", "o4-mini",
          "gemini-2.5-flash", "in-house-7b")  # fmt: skip
BILLING_EVENTS = 1_000_000
CUSTOMERS = 5_000


def server_url(database: str) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{database}"))


def admin_sql(statement: str) -> None:
    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        conn.execute(statement)


def fill(project_id: int) -> None:
    from django.db import connection

    steps = [
        (
            "usage token rows",
            f"""
            INSERT INTO runs_usagehourly (project_id, hour, agent_name, model, environment,
                runs, failures, finished, duration_ms_sum, llm_calls, input_tokens,
                output_tokens, cache_read_tokens, cache_write_tokens, cost, unpriced_calls)
            SELECT {project_id}, h, 'agent-' || a, (%(models)s::text[])[1 + (a + m * 3) %% 8], e,
                0, 0, 0, 0, 77, 77 * 1200, 77 * 300, 77 * 400, 0,
                round((77 * 0.0045 * (1 + a %% 3))::numeric, 10),
                CASE WHEN (a + m * 3) %% 8 = 7 THEN 77 ELSE 0 END
            FROM generate_series(date_trunc('hour', now()) - interval '{DAYS} days',
                                 date_trunc('hour', now()), interval '1 hour') h,
                 generate_series(0, {AGENTS - 1}) a, generate_series(0, 1) m,
                 unnest(array['cloud', 'local', 'docker']) e
            """,
        ),
        (
            "usage run rows",
            f"""
            INSERT INTO runs_usagehourly (project_id, hour, agent_name, model, environment,
                runs, failures, finished, duration_ms_sum, llm_calls, input_tokens,
                output_tokens, cache_read_tokens, cache_write_tokens, cost, unpriced_calls)
            SELECT {project_id}, h, 'agent-' || a, '', e, 31, 3 + a %% 4, 30, 30 * 21000,
                0, 0, 0, 0, 0, 0, 0
            FROM generate_series(date_trunc('hour', now()) - interval '{DAYS} days',
                                 date_trunc('hour', now()), interval '1 hour') h,
                 generate_series(0, {AGENTS - 1}) a,
                 unnest(array['cloud', 'local', 'docker']) e
            """,
        ),
        (
            "duration buckets",
            f"""
            INSERT INTO runs_durationhourly (project_id, hour, agent_name, environment, bucket,
                count)
            SELECT {project_id}, h, 'agent-' || a, e, b, 1 + (b * 7 + a) %% 4
            FROM generate_series(date_trunc('hour', now()) - interval '{DAYS} days',
                                 date_trunc('hour', now()), interval '1 hour') h,
                 generate_series(0, {AGENTS - 1}) a,
                 unnest(array['cloud', 'local', 'docker']) e, generate_series(33, 47) b
            """,
        ),
        (
            "usage daily",
            """
            INSERT INTO runs_usagedaily (project_id, day, agent_name, model, environment,
                runs, failures, finished, duration_ms_sum, llm_calls, input_tokens,
                output_tokens, cache_read_tokens, cache_write_tokens, cost, unpriced_calls)
            SELECT project_id, (hour AT TIME ZONE 'UTC')::date, agent_name, model,
                environment, sum(runs), sum(failures), sum(finished), sum(duration_ms_sum),
                sum(llm_calls), sum(input_tokens), sum(output_tokens),
                sum(cache_read_tokens), sum(cache_write_tokens), sum(cost),
                sum(unpriced_calls)
            FROM runs_usagehourly GROUP BY 1, 2, 3, 4, 5
            """,
        ),
        (
            "duration daily",
            """
            INSERT INTO runs_durationdaily (project_id, day, agent_name, environment, bucket,
                count)
            SELECT project_id, (hour AT TIME ZONE 'UTC')::date, agent_name, environment,
                bucket, sum(count)
            FROM runs_durationhourly GROUP BY 1, 2, 3, 4, 5
            """,
        ),
        (
            "billing events",
            f"""
            INSERT INTO billing_revenueevent (project_id, event_id, external_id, run_id,
                agent_name, kind, amount, currency, customer, refund_of, metadata, ts)
            SELECT {project_id}, 'ev_' || i, 'x_' || i, NULL, 'agent-' || (i %% {AGENTS}),
                k.kind, round((5 + (i * 7919) %% 20000 / 100.0)::numeric, 2),
                CASE WHEN i %% 10 < 7 THEN 'USD' WHEN i %% 10 < 9 THEN 'EUR' ELSE 'GBP' END,
                'cus_' || (i * 31 %% {CUSTOMERS}),
                CASE WHEN k.kind = 'refund' THEN 'x_' || (i - 1) ELSE '' END, '{{}}',
                now() - (i::float / {BILLING_EVENTS}) * interval '{DAYS} days'
            FROM generate_series(1::bigint, {BILLING_EVENTS}) i,
                 LATERAL (SELECT CASE WHEN i %% 50 < 40 THEN 'charge'
                                      WHEN i %% 50 < 44 THEN 'subscription'
                                      WHEN i %% 50 < 47 THEN 'refund'
                                      WHEN i %% 50 < 49 THEN 'credit'
                                      ELSE 'payout' END AS kind) k
            """,
        ),
        (
            "billing rollup",
            f"""
            INSERT INTO billing_revenuedaily (project_id, day, agent_name, customer, currency,
                charges, subscriptions, refunds, credits, payouts, events)
            SELECT {project_id}, (ts AT TIME ZONE 'UTC')::date, agent_name, customer, currency,
                coalesce(sum(amount) FILTER (WHERE kind = 'charge'), 0),
                coalesce(sum(amount) FILTER (WHERE kind = 'subscription'), 0),
                coalesce(sum(amount) FILTER (WHERE kind = 'refund'), 0),
                coalesce(sum(amount) FILTER (WHERE kind = 'credit'), 0),
                coalesce(sum(amount) FILTER (WHERE kind = 'payout'), 0), count(*)
            FROM billing_revenueevent GROUP BY 2, 3, 4, 5
            """,
        ),
        (
            "billing weekly",
            """
            INSERT INTO billing_revenueweekly (project_id, week, agent_name, customer,
                currency, charges, subscriptions, refunds, credits, payouts, events)
            SELECT project_id, day - (extract(day FROM day)::integer - 1) %% 7, agent_name,
                customer, currency, sum(charges), sum(subscriptions), sum(refunds),
                sum(credits), sum(payouts), sum(events)
            FROM billing_revenuedaily GROUP BY 1, 2, 3, 4, 5
            """,
        ),
        (
            "billing monthly",
            """
            INSERT INTO billing_revenuemonthly (project_id, month, agent_name, customer,
                currency, charges, subscriptions, refunds, credits, payouts, events)
            SELECT project_id, date_trunc('month', day)::date, agent_name, customer,
                currency, sum(charges), sum(subscriptions), sum(refunds), sum(credits),
                sum(payouts), sum(events)
            FROM billing_revenuedaily GROUP BY 1, 2, 3, 4, 5
            """,
        ),
        (
            "billing per agent",
            """
            INSERT INTO billing_revenueagentdaily (project_id, day, agent_name, currency,
                charges, subscriptions, refunds, credits, payouts, events)
            SELECT project_id, day, agent_name, currency, sum(charges), sum(subscriptions),
                sum(refunds), sum(credits), sum(payouts), sum(events)
            FROM billing_revenuedaily GROUP BY 1, 2, 3, 4
            """,
        ),
    ]
    with connection.cursor() as cursor:
        for name, sql in steps:
            started = time.perf_counter()
            cursor.execute(sql, {"models": list(MODELS)})
            print(
                f"  {name:<18} {cursor.rowcount:>10,} rows  {time.perf_counter() - started:6.1f} s"
            )
        cursor.execute("ANALYZE")


def timed(client, path: str, requests: int) -> tuple[float, float]:
    client.get(path)  # warm: templates compiled, connection open
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    times.sort()
    return statistics.median(times), times[max(0, round(len(times) * 0.95) - 1)]


def run(requests: int) -> None:
    import django
    from django.test import Client
    from django.test.utils import setup_test_environment

    django.setup()
    setup_test_environment()
    from django.core.management import call_command
    from django.utils import timezone

    from studio.services import member_set, organization_get_or_create, project_get_or_create

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"migrated {DB_NAME} in {time.perf_counter() - started:.1f} s; filling:")
    org = organization_get_or_create(name="Bench")
    project = project_get_or_create(organization=org, name="Bench agents")
    owner = member_set(organization=org, username="bench", role="owner", password=None).user
    fill(project.id)

    client = Client()
    client.force_login(owner)
    # A custom range whose both ends fall mid-month: the most daily rows the customer
    # table reads beside the monthly ones (about half a month at each end).
    last_month = timezone.now().date().replace(day=1) - timedelta(days=1)
    since = (last_month.replace(day=1) - timedelta(days=1)).replace(day=16)
    until = last_month.replace(day=15)
    pages = [
        "/usage/?range=24h&group=model",
        "/usage/?range=7d&group=model",
        "/usage/?range=30d&group=agent",
        "/usage/?range=90d&group=model",
        "/usage/?range=90d&group=environment",
        "/revenue/",
        "/revenue/?range=90d",
        "/revenue/?range=90d&period=week&currency=USD",
        "/revenue/?range=all&customer=cus_42",
        "/revenue/?range=all&kind=refund",
        f"/revenue/?from={since}&to={until}",
    ]
    print(f"\n{'page (server-side, Django test client)':<52} {'p50 ms':>8} {'p95 ms':>8}")
    for path in pages:
        p50, p95 = timed(client, path, requests)
        print(f"{path:<52} {p50:8.1f} {p95:8.1f}")

    started = time.perf_counter()
    response = client.get("/revenue/export.csv?range=all")
    lines = sum(chunk.count(b"\n") for chunk in response.streaming_content)
    print(f"\nCSV export of every event: {lines - 1:,} rows streamed in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the bench_billing database")
    args = parser.parse_args()
    if "DATABASE_URL" not in os.environ:
        sys.exit("Set DATABASE_URL to any database on the PostgreSQL server to use.")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME}")
    admin_sql(f"CREATE DATABASE {DB_NAME}")
    os.environ["DATABASE_URL"] = server_url(DB_NAME)
    try:
        run(args.requests)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
            print(f"dropped {DB_NAME}")


if __name__ == "__main__":
    main()
