"""OTLP traces end to end: agent traces exported as OTLP → runs visible in the read API.

Run from the repository root, with PostgreSQL and Redis up (see bench/README.md):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python -m bench.otlp_traces

The workload of a peer measurement: `--traces 2000` agent traces of 11 spans each (one
AGENT root, 5 LLM spans with OpenInference token counts and 200-character input and
output, 5 TOOL spans), made by the real OpenTelemetry SDK and encoded by its OTLP
exporter's encoder, `--per-request 50` traces per export request, sent from
`--clients 4` threads to one uvicorn with `celery -c 2` workers. Timed from the first
request until the read API lists every run as succeeded; in runs/s.

Beside it, the same traces as protocol v1 NDJSON (the events Studio maps them to, 50
runs per request), through `POST /api/v1/ingest`. Each side on a fresh database.
"""

import argparse
import json
import os
import random
import string
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from http.client import HTTPConnection

from bench.charm_streams import succeeded_in_api
from bench.ingest_e2e import (
    MAX_ATTEMPTS,
    SendResult,
    bench_database_url,
    bench_environment,
    cpu_seconds,
    database_drop,
    database_recreate,
    free_port,
    http_get,
    log_path,
    percentiles,
    run_clients,
    setup_project,
    start_web,
    start_workers,
    wait_until,
    workers_ready,
)

QUEUE = f"bench-otlp-{uuid.uuid4().hex[:8]}"
PEER_RUNS_PER_SECOND = 22  # Arize Phoenix 20.26 on this workload, this machine (issue 9)


def text(rng: random.Random, size: int = 200) -> str:
    return "".join(rng.choices(string.ascii_letters + "     ", k=size))


def make_traces(traces: int, seed: int = 5) -> list:
    """`traces` agent traces from the real SDK: the spans it would export."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    rng = random.Random(seed)
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bench.otlp_traces")
    for n in range(traces):
        with tracer.start_as_current_span("agent") as root:
            root.set_attribute("openinference.span.kind", "AGENT")
            root.set_attribute("input.value", text(rng))
            for step in range(5):
                with tracer.start_as_current_span("llm") as llm:
                    llm.set_attribute("openinference.span.kind", "LLM")
                    llm.set_attribute("llm.model_name", "gpt-4o-mini")
                    llm.set_attribute("input.value", text(rng))
                    llm.set_attribute("output.value", text(rng))
                    llm.set_attribute("llm.token_count.prompt", 100 + step)
                    llm.set_attribute("llm.token_count.completion", 50 + n % 7)
                with tracer.start_as_current_span(f"tool_{step}") as tool:
                    tool.set_attribute("openinference.span.kind", "TOOL")
                    tool.set_attribute("tool.name", f"tool_{step}")
                    tool.set_attribute("input.value", text(rng, 50))
                    tool.set_attribute("output.value", text(rng, 50))
            root.set_attribute("output.value", text(rng))
    spans = list(exporter.get_finished_spans())
    provider.shutdown()
    by_trace: dict[int, list] = {}
    for span in spans:
        by_trace.setdefault(span.context.trace_id, []).append(span)
    return list(by_trace.values())


def otlp_bodies(traces: list, per_request: int) -> list[bytes]:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return [
        encode_spans([s for t in traces[i : i + per_request] for s in t]).SerializeToString()
        for i in range(0, len(traces), per_request)
    ]


def ndjson_bodies(otlp: list[bytes]) -> tuple[list[bytes], int]:
    """The same traces as the protocol v1 events Studio maps them to, one request per
    export request; and how many events that is."""
    from runs.protocol.codec import event_to_dict
    from runs.protocol.otlp import PROTOBUF, decode_request
    from runs.protocol.otlp_map import spans_to_events

    bodies, count = [], 0
    now = datetime.now(UTC)
    for body in otlp:
        events, problems = spans_to_events(decode_request(body, PROTOBUF), received_at=now)
        assert not problems, problems[:3]
        count += len(events)
        lines = (json.dumps(event_to_dict(e), ensure_ascii=False) for e in events)
        bodies.append("\n".join(lines).encode())
    return bodies, count


def send(port: int, key: str, bodies: list[bytes], clients: int, otlp: bool) -> SendResult:
    result = SendResult()
    next_body = iter(range(len(bodies)))
    take = threading.Lock()
    path = "/v1/traces" if otlp else "/api/v1/ingest"
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/x-protobuf" if otlp else "application/x-ndjson",
    }
    ok = 200 if otlp else 202

    def client() -> None:
        conn = HTTPConnection("127.0.0.1", port, timeout=300)
        while True:
            with take:
                index = next(next_body, None)
            if index is None:
                break
            for _attempt in range(MAX_ATTEMPTS):
                started = time.perf_counter()
                try:
                    conn.request("POST", path, body=bodies[index], headers=headers)
                    response = conn.getresponse()
                    response.read()
                except OSError as error:
                    conn.close()
                    conn = HTTPConnection("127.0.0.1", port, timeout=300)
                    with result.lock:
                        result.failures[type(error).__name__] += 1
                    continue
                elapsed = time.perf_counter() - started
                if response.status == ok:
                    with result.lock:
                        result.latencies.append(elapsed)
                    break
                with result.lock:
                    result.failures[str(response.status)] += 1
                if response.status not in (429, 503):
                    break
                time.sleep(min(5, int(response.getheader("Retry-After") or 1)))
        conn.close()

    run_clients(client, clients)
    return result


@dataclass
class Side:
    label: str
    requests: int
    runs: int
    seconds_to_202: float
    seconds_visible: float
    latency_ms: dict
    failures: dict
    events_stored: int

    @property
    def runs_per_second(self) -> float:
        return self.runs / self.seconds_visible


def measure(args, label: str, bodies: list[bytes], runs: int, otlp: bool) -> Side:
    from django.db import connection
    from django.db.models import Sum

    from runs.models import IngestBatch, Run

    database_recreate(os.environ["DATABASE_URL"])
    project, key = setup_project()
    port = free_port()
    print(f"\n== {label}: {len(bodies):,} requests, {args.clients} clients, 1 web + "
          f"{args.worker_concurrency} worker processes")  # fmt: skip
    services = [start_workers(args.worker_concurrency), start_web(port, 1)]
    try:
        wait_until(lambda: http_get(port, "/healthz")[0] == 200, 60, "web server start")
        wait_until(lambda: workers_ready(services[0]), 60, "workers start", interval=0.5)
        cpu_before = cpu_seconds(services)
        started = time.perf_counter()
        sent = send(port, key, bodies, args.clients, otlp)
        answered = time.perf_counter()
        connection.close()

        def all_applied() -> bool:
            counts = Counter(IngestBatch.objects.values_list("status", flat=True))
            if counts["failed"]:
                raise RuntimeError(f"{counts['failed']} batches failed; see {log_path('worker')}")
            return counts["pending"] == 0

        wait_until(all_applied, args.timeout, "applying every batch", interval=0.1)
        wait_until(lambda: succeeded_in_api(port, key) >= runs, 120, "every run listed", 0.1)
        visible = time.perf_counter()
        cpu = {k: v - cpu_before[k] for k, v in cpu_seconds(services).items()}
    finally:
        for service in reversed(services):
            service.stop()
    stored = Run.objects.filter(project=project).aggregate(n=Sum("event_count"))["n"] or 0
    side = Side(
        label=label,
        requests=len(bodies),
        runs=Run.objects.filter(project=project, status="succeeded").count(),
        seconds_to_202=answered - started,
        seconds_visible=visible - started,
        latency_ms={k: v * 1000 for k, v in percentiles(sent.latencies).items()},
        failures=dict(sent.failures),
        events_stored=stored,
    )
    print(f"   {side.runs:,} runs visible in {side.seconds_visible:.2f}s "
          f"({side.runs_per_second:,.0f} runs/s); last answer at {side.seconds_to_202:.2f}s; "
          f"{stored:,} events stored")  # fmt: skip
    parts = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in cpu.items())
    total = sum(cpu.values())
    print(f"   CPU {total:.2f}s ({parts}): {total / max(1, stored) * 1e6:.0f} µs per event")
    return side


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", type=int, default=2000)
    parser.add_argument("--per-request", type=int, default=50, help="traces per export")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--db", default="bench_otlp")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    db_url = bench_database_url(args.db)
    bench_environment(QUEUE, db_url)

    started = time.perf_counter()
    traces = make_traces(args.traces)
    spans = sum(map(len, traces))
    otlp = otlp_bodies(traces, args.per_request)
    ndjson, events = ndjson_bodies(otlp)
    print(f"{os.cpu_count()} CPUs shared by clients, web, workers and PostgreSQL")
    print(f"{len(traces):,} traces, {spans:,} spans made by the OpenTelemetry SDK in "
          f"{time.perf_counter() - started:.1f}s: {len(otlp):,} OTLP protobuf requests "
          f"({sum(map(len, otlp)) / 1e6:.1f} MB); as protocol v1, {events:,} events in "
          f"{len(ndjson):,} NDJSON requests ({sum(map(len, ndjson)) / 1e6:.1f} MB)")  # fmt: skip
    try:
        sides = [
            measure(args, "OTLP protobuf → /v1/traces", otlp, len(traces), otlp=True),
            measure(args, "protocol v1 NDJSON → /api/v1/ingest", ndjson, len(traces), otlp=False),
        ]
    finally:
        if not args.keep_db:
            database_drop(db_url)

    print(f"\n{'':38}{'runs/s':>10}{'× peer':>9}{'p50 ms':>9}{'p99 ms':>9}{'to last 200/202':>17}")
    for side in sides:
        print(f"{side.label:38}{side.runs_per_second:>10,.0f}"
              f"{side.runs_per_second / PEER_RUNS_PER_SECOND:>8.0f}×"
              f"{side.latency_ms['p50']:>9.0f}{side.latency_ms['p99']:>9.0f}"
              f"{side.seconds_to_202:>16.2f}s")  # fmt: skip
        if side.failures:
            print(f"   !! {side.label}: answers other than success: {side.failures}")
        if side.runs != len(traces):
            print(f"   !! {side.label}: {side.runs:,} of {len(traces):,} runs succeeded")
    print(f"peer: Arize Phoenix 20.26, {PEER_RUNS_PER_SECOND} runs/s on this workload")


if __name__ == "__main__":
    main()
