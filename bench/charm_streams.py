"""Charm's own stdout ingested end to end, beside protocol v1 NDJSON of the same runs.

Run from the repository root, with PostgreSQL and Redis up (see bench/README.md):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python -m bench.charm_streams

It generates `--runs` agent runs once, before any timing. Each run is what a LangChain
agent under `charm run` prints, written by the Charm SDK itself (its logger, its
`CharmEmitter`, `StdoutInterceptor` and `CharmEmitterExporter` hooks, with
`sys.__stdout__` pointed at a buffer): the CLI's lines, a status, a few prints, 10 tool
calls, 70 streamed tokens and a final, about 107 lines. The same runs are also written
as the protocol v1 events an SDK speaking v1 would send for them.

Then, on the same machine and in the same way (a fresh database, one uvicorn process,
`celery -c 2`, 4 client threads; `bench.ingest_e2e`'s process management), it sends:

* NDJSON: the v1 events in 1,000-event requests;
* Charm: each run's stdout as `text/plain` bodies (X-Charm-Run-Id, X-Charm-Stream-Offset;
  the last piece with X-Charm-Stream-End: true), one per run unless a run has more
  than `--piece-lines` lines;

and waits until every run reads as succeeded through GET /api/v1/runs. It prints, for
each, events (those `parse_body` accepts, counted the same way for both), requests,
wall seconds and events/s end to end, request latency, the ratio Charm/NDJSON, and the
speed of `parse_body` alone on one core. When the Charm side is the slower, it profiles
`parse_body` on the Charm bodies under cProfile and prints where the time goes.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import sys
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.client import HTTPConnection
from urllib.parse import quote

from bench.ingest_e2e import (
    MAX_ATTEMPTS,
    QUEUE,
    SendResult,
    bench_database_url,
    bench_environment,
    children_of,
    database_drop,
    database_recreate,
    database_wait,
    free_port,
    http_get,
    log_path,
    ndjson_batches,
    percentiles,
    print_top,
    rekeyed,
    run_clients,
    setup_project,
    small_heap,
    start_web,
    start_workers,
    wait_until,
    workers_ready,
)

TOOL_CALLS = 10
TOKENS = 70
PRINTS = 3
AGENTS = ["research-assistant", "support-triage", "sales-outreach", "invoice-bot"]
MODEL = "gpt-4o-mini"
WORDS = [
    "the", "quarterly", "revenue", "of", "Acme", "grew", "by", "twelve", "percent", "while",
    "churn", "fell", "to", "three", "percent", "and", "the", "new", "pricing", "page",
    "lifted", "conversion", "across", "every", "segment", "we", "track",
]  # fmt: skip
TOPICS = ["Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries"]


# The workload ----------------------------------------------------------------------------


@dataclass
class Script:
    """One agent run: what happens in it, whichever way it is reported."""

    run_id: str
    agent: str
    question: str
    prints: list[str]
    tools: list[tuple[str, str, str]]  # (tool name, input_str, output)
    tokens: list[str]

    @property
    def answer(self) -> str:
        return "".join(self.tokens).strip()


def make_scripts(runs: int, seed: int = 11) -> list[Script]:
    rng = random.Random(seed)
    scripts = []
    for n in range(runs):
        topic = rng.choice(TOPICS)
        question = f"Summarise {topic}'s last quarter and draft a note for the account team"
        tools = []
        for step in range(TOOL_CALLS):
            name = rng.choice(["web_search", "crm_lookup", "calculator", "read_url"])
            if name == "web_search":
                args = {"query": f"{topic} {' '.join(rng.sample(WORDS, 3))}"}
            elif name == "crm_lookup":
                args = {"account": topic, "fields": ["arr", "owner", "renewal"]}
            elif name == "calculator":
                args = {"expression": f"{rng.randint(100, 999)} * 1.{rng.randint(1, 30):02d}"}
            else:
                args = {"url": f"https://news.example.com/{topic.lower().replace(' ', '-')}/{step}"}
            hits = [
                {"title": " ".join(rng.sample(WORDS, 5)), "score": round(rng.random(), 3)}
                for _ in range(rng.randint(1, 3))
            ]
            tools.append((name, str(args), json.dumps({"step": step, "results": hits})))
        scripts.append(
            Script(
                run_id=f"run_charm_{n:06d}",
                agent=AGENTS[n % len(AGENTS)],
                question=question,
                prints=[
                    f"Planning: {question}",
                    f"Found {rng.randint(2, 9)} sources about {topic}",
                    "Drafting the answer",
                ][:PRINTS],
                tools=tools,
                tokens=[(" " if i else "") + rng.choice(WORDS) for i in range(TOKENS)],
            )
        )
    return scripts


@contextmanager
def sdk_stdout():
    """Point the process's real stdout, where the Charm SDK writes its events, at a buffer."""
    buffer = io.StringIO()
    saved = sys.__stdout__
    sys.__stdout__ = buffer
    try:
        yield buffer
    finally:
        sys.__stdout__ = saved


def charm_stdout(script: Script) -> str:
    """The run's stdout, byte for byte as `charm run` and the SDK write it."""
    import logging

    from charm.core.io import CharmEmitter, StdoutInterceptor
    from charm.core.logger import logger
    from charm.core.telemetry import CharmEmitterExporter
    from rich.console import Console

    exporter = CharmEmitterExporter()
    with sdk_stdout() as out:
        # The CLI: the loader's log line (the charm logger's own handler and format), then
        # the console's line, as rich prints it when stdout is not a terminal.
        handler = logger.handlers[0]
        saved = handler.setStream(out)
        try:
            handler.handle(
                logger.makeRecord(
                    "charm", logging.INFO, __file__, 0, "Loading Charm project from: .", (), None
                )
            )
        finally:
            handler.setStream(saved)
        Console(file=out, color_system=None, soft_wrap=True).print(
            f"[bold green]✔ Loaded Agent:[/bold green] {script.agent}"
        )
        # CharmWrapper.invoke: the status, then the agent's prints through the interceptor.
        CharmEmitter.emit_status("Initializing Agent Runtime...")
        interceptor = StdoutInterceptor()
        for line in script.prints:
            print(line, file=interceptor)
        interceptor.flush()
        # The LangChain adapter: its callbacks in order, the exporter's then tool usage.
        for name, input_str, output in script.tools:
            exporter.on_tool_start(name, input_str)
            CharmEmitter.emit_tool_usage(name, 1)
            exporter.on_tool_end(name, output)
        for token in script.tokens:
            exporter.on_llm_new_token(token)
        CharmEmitter.emit_final(script.answer)
    return out.getvalue()


def ndjson_events(script: Script, start: datetime, rng: random.Random) -> list[dict]:
    """The same run as protocol v1 events: one per event the Charm stream becomes, less
    the stream's end (a v1 sender ends the run with run_end)."""
    events: list[dict] = []
    agent = {"name": script.agent, "version": "1.0.0"}

    def add(type_: str, data: dict) -> None:
        seq = len(events)
        ts = start + timedelta(milliseconds=5 * seq)
        events.append(
            {
                "v": 1,
                "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "run_id": script.run_id,
                "seq": seq,
                "ts": ts.isoformat(timespec="microseconds").replace("+00:00", "Z"),
                "type": type_,
                "agent": agent,
                "data": data,
            }
        )

    def log(message: str, logger: str | None) -> None:
        add("log", {"message": message, "level": "info", "stream": "stdout", "logger": logger})

    log("Loading Charm project from: .", "charm")
    add(
        "run_start",
        {
            "inputs": {"input": script.question},
            "environment": "local",
            "runtime": {},
            "config": {"required_env": [], "oauth": []},
        },
    )
    log(f"✔ Loaded Agent: {script.agent}", None)
    add("status", {"status": "running", "message": "Initializing Agent Runtime..."})
    for line in script.prints:
        log(line, None)
    for step, (name, input_str, output) in enumerate(script.tools):
        span_id = f"sp_{step}"
        add("tool_start", {"tool_name": name, "input_str": input_str, "span_id": span_id})
        add("tool_usage", {"tool": name, "count": 1})
        add("tool_end", {"tool_name": name, "output": output, "span_id": span_id})
    call_id = f"call_{script.run_id}"
    for token in script.tokens:
        add("llm_new_token", {"token": token, "model": MODEL, "call_id": call_id})
    add("run_end", {"outputs": script.answer, "format": "markdown"})
    return events


@dataclass
class Piece:
    body: bytes
    headers: dict


def charm_pieces(script: Script, text: str, piece_lines: int) -> list[Piece]:
    """The run's stdout in bodies of at most `piece_lines` lines, each naming its first
    line's position; the last one ends the stream."""
    lines = text.splitlines(keepends=True)
    starts = list(range(0, len(lines), piece_lines)) or [0]
    pieces = []
    for start in starts:
        headers = {
            "Content-Type": "text/plain; charset=utf-8",
            "X-Charm-Run-Id": script.run_id,
            "X-Charm-Stream-Offset": str(start),
        }
        if start == starts[-1]:
            headers["X-Charm-Stream-End"] = "true"
        pieces.append(Piece("".join(lines[start : start + piece_lines]).encode(), headers))
    return pieces


@dataclass
class Workload:
    scripts: list[Script]
    charm: list[list[Piece]]  # per run, its pieces in order
    ndjson: list[Piece]  # 1,000-event requests
    ndjson_by_run: list[list[dict]]
    ndjson_events: int
    charm_lines: int


def make_workload(runs: int, batch: int, piece_lines: int) -> Workload:
    scripts = make_scripts(runs)
    rng = random.Random(5)
    # v1 timestamps in the recent past, one run after another, none in the future.
    first = datetime.now(UTC) - timedelta(seconds=60 + runs)
    charm, by_run, lines = [], [], 0
    for n, script in enumerate(scripts):
        text = charm_stdout(script)
        lines += text.count("\n")
        charm.append(charm_pieces(script, text, piece_lines))
        by_run.append(ndjson_events(script, first + timedelta(seconds=n), rng))
    events = [event for run in by_run for event in run]
    headers = {"Content-Type": "application/x-ndjson"}
    ndjson = [Piece(body, headers) for body in ndjson_batches(events, batch)]
    return Workload(scripts, charm, ndjson, by_run, len(events), lines)


# Parsing alone -------------------------------------------------------------------------------


def parse_kwargs(piece: Piece, received_at: datetime) -> dict:
    headers = piece.headers
    return {
        "content_type": headers["Content-Type"],
        "run_id": headers.get("X-Charm-Run-Id"),
        "stream_offset": int(headers.get("X-Charm-Stream-Offset", 0)),
        "stream_ended": headers.get("X-Charm-Stream-End") == "true",
        "received_at": received_at,
    }


def parse_all(pieces: list[Piece]) -> tuple[int, int, int]:
    """parse_body on every piece: (events, rejected, noted)."""
    from runs.protocol import parse_body

    received_at = datetime.now(UTC)
    events = rejected = noted = 0
    for piece in pieces:
        result = parse_body(piece.body, **parse_kwargs(piece, received_at))
        events += len(result.events)
        rejected += len(result.rejected)
        noted += len(result.noted)
    return events, rejected, noted


@dataclass
class ParseSpeed:
    events: int
    seconds: float  # best of the rounds

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def parse_speed(pieces: list[Piece], rounds: int) -> ParseSpeed:
    best = float("inf")
    events = 0
    for _ in range(rounds):
        started = time.perf_counter()
        events, _, _ = parse_all(pieces)
        best = min(best, time.perf_counter() - started)
    return ParseSpeed(events, best)


def profile_charm_parse(pieces: list[Piece], top: int) -> None:
    from runs.protocol import parse_body

    received_at = datetime.now(UTC)
    calls = [(piece.body, parse_kwargs(piece, received_at)) for piece in pieces]
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for body, kwargs in calls:
        parse_body(body, **kwargs)
    profiler.disable()
    seconds = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    print(
        f"\n== Profile: parse_body on {len(pieces):,} Charm bodies, {seconds:.2f}s under cProfile"
    )
    for module, function in [
        ("runs.protocol.charm", "parse_charm_text"),
        ("runs.protocol.charm", "_line"),
        ("runs.protocol.charm", "_charm_event"),
        ("runs.protocol.charm", "add"),
    ]:
        total = sum(
            ct
            for (filename, _l, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items()
            if name == function and filename.endswith(module.replace(".", "/") + ".py")
        )
        print(
            f"\n   inside {module}.{function} ({total:.2f}s, {total / seconds:.0%} of the parse):"
        )
        for name, count, spent in children_of(stats, module, function)[:8]:
            print(f"   {name[:72]:72} {count:>8} {spent:>7.3f}s {spent / seconds:>6.1%}")
    print_top(stats, "parse_body on Charm bodies", top, "tottime")
    print_top(stats, "parse_body on Charm bodies", top, "cumulative")


# End to end ----------------------------------------------------------------------------------


def send_units(port: int, key: str, units: list[list[Piece]], clients: int) -> SendResult:
    """Send each unit's pieces in order on one connection; units shared among the clients.
    Each request once (429/503 retried at most MAX_ATTEMPTS times)."""
    result = SendResult()
    next_unit = iter(range(len(units)))
    take = threading.Lock()
    auth = {"Authorization": f"Bearer {key}"}

    def post(conn: HTTPConnection, piece: Piece) -> HTTPConnection:
        headers = {**auth, **piece.headers}
        for _attempt in range(MAX_ATTEMPTS):
            started = time.perf_counter()
            try:
                conn.request("POST", "/api/v1/ingest", body=piece.body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
            except OSError as error:
                conn.close()
                conn = HTTPConnection("127.0.0.1", port, timeout=300)
                with result.lock:
                    result.failures[type(error).__name__] += 1
                continue
            elapsed = time.perf_counter() - started
            if response.status == 202:
                answer = json.loads(payload)
                with result.lock:
                    result.latencies.append(elapsed)
                    result.accepted += answer["accepted"]
                    result.rejected += len(answer["rejected"])
                return conn
            with result.lock:
                result.failures[str(response.status)] += 1
                result.retries += 1
            if response.status not in (429, 503):
                return conn
            time.sleep(min(5, int(response.getheader("Retry-After") or 1)))
        return conn

    def client() -> None:
        conn = HTTPConnection("127.0.0.1", port, timeout=300)
        while True:
            with take:
                index = next(next_unit, None)
            if index is None:
                break
            for piece in units[index]:
                conn = post(conn, piece)
        conn.close()

    run_clients(client, clients)
    return result


def succeeded_in_api(port: int, key: str) -> int:
    """How many runs GET /api/v1/runs?status=succeeded lists, page by page; -1 on an error."""
    read = {"Authorization": f"Bearer {key}"}
    count, cursor = 0, None
    while True:
        path = "/api/v1/runs?status=succeeded&limit=200"
        if cursor:
            path += f"&cursor={quote(cursor)}"
        status, body = http_get(port, path, read)
        if status != 200:
            return -1
        page = json.loads(body)
        count += len(page["runs"])
        cursor = page["next_cursor"]
        if not cursor:
            return count


@dataclass
class Side:
    label: str
    requests: int
    ok_requests: int
    accepted: int
    rejected: int
    failures: dict
    latency_ms: dict
    ingest_seconds: float
    applied_seconds: float
    visible_seconds: float
    stored_runs: int
    key: str
    problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.accepted / self.visible_seconds


def measure_side(
    args, label: str, units: list[list[Piece]], expected_runs: int, expected_events: int
) -> Side:
    from django.db import connection
    from django.db.models import Sum

    from runs.models import IngestBatch, Run

    database_recreate(os.environ["DATABASE_URL"])
    project, key = setup_project()
    requests = sum(map(len, units))
    port = free_port()
    print(f"\n== {label}: {requests:,} requests, {args.clients} clients, 1 web + "
          f"{args.worker_concurrency} worker processes")  # fmt: skip

    services = [start_workers(args.worker_concurrency), start_web(port, 1)]
    try:
        wait_until(lambda: http_get(port, "/healthz")[0] == 200, 60, "web server start")
        wait_until(lambda: workers_ready(services[0]), 60, "workers start", interval=0.5)

        started = time.perf_counter()
        sent = send_units(port, key, units, args.clients)
        ingest_done = time.perf_counter()
        connection.close()
        backlog = IngestBatch.objects.filter(status=IngestBatch.Status.PENDING).count()
        print(f"   all 202s in {ingest_done - started:.1f}s; {backlog:,} batches still pending")

        def all_applied() -> bool:
            counts = Counter(IngestBatch.objects.values_list("status", flat=True))
            if counts[IngestBatch.Status.FAILED]:
                raise RuntimeError(f"{counts['failed']} batches failed; see {log_path('worker')}")
            return counts[IngestBatch.Status.PENDING] == 0

        wait_until(all_applied, args.timeout, "applying every batch", interval=0.1)
        applied = time.perf_counter()
        succeeded = Run.objects.filter(project=project, status="succeeded")
        wait_until(lambda: succeeded.count() >= expected_runs, 60, "every run succeeded", 0.1)
        wait_until(
            lambda: succeeded_in_api(port, key) >= expected_runs,
            60,
            "every run listed as succeeded by the read API",
            interval=0.1,
        )
        visible = time.perf_counter()
    finally:
        for service in reversed(services):
            service.stop()

    runs = Run.objects.filter(project=project)
    stored = runs.aggregate(total=Sum("event_count"))["total"] or 0
    problems = []
    if runs.count() != expected_runs:
        problems.append(f"{runs.count():,} runs stored, {expected_runs:,} expected")
    if sent.accepted != expected_events:
        problems.append(f"{sent.accepted:,} events accepted, {expected_events:,} parsed locally")
    if stored != sent.accepted:
        problems.append(f"runs count {stored:,} events, {sent.accepted:,} accepted")
    if sent.rejected:
        problems.append(f"{sent.rejected:,} events rejected")
    for problem in problems:
        print(f"   !! {problem}")
    return Side(
        label=label,
        requests=requests,
        ok_requests=len(sent.latencies),
        accepted=sent.accepted,
        rejected=sent.rejected,
        failures=dict(sent.failures),
        latency_ms={k: v * 1000 for k, v in percentiles(sent.latencies).items()},
        ingest_seconds=ingest_done - started,
        applied_seconds=applied - started,
        visible_seconds=visible - started,
        stored_runs=runs.count(),
        key=key,
        problems=problems,
    )


# Where the end-to-end time goes ------------------------------------------------------------


@dataclass
class InProcess:
    label: str
    requests: int
    events: int
    view_seconds: float
    apply_seconds: float
    apply_stats: pstats.Stats | None = None


def in_process(key: str, pieces: list[Piece], label: str, profile: bool) -> InProcess:
    """The ingest view on each body, then the worker's batch_apply on each batch it
    stored, one after the other in this process (no HTTP, no Celery): the cost of one
    request and of one batch, apart from contention."""
    from django.test import RequestFactory

    from runs.api import ingest
    from runs.ingest.inbox import batch_apply
    from runs.models import IngestBatch

    factory = RequestFactory()
    requests = []
    for piece in pieces:
        headers = {k: v for k, v in piece.headers.items() if k != "Content-Type"}
        requests.append(
            factory.post(
                "/api/v1/ingest", piece.body, content_type=piece.headers["Content-Type"],
                headers={"Authorization": f"Bearer {key}", **headers},
            )
        )  # fmt: skip
    last = IngestBatch.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    events = 0
    with small_heap():
        started = time.perf_counter()
        for request in requests:
            response = ingest(request)
            assert response.status_code == 202, response.content
            events += json.loads(response.content)["accepted"]
        view_seconds = time.perf_counter() - started
    ids = list(IngestBatch.objects.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True))
    profiler = cProfile.Profile() if profile else None
    with small_heap():
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        for batch_id in ids:
            batch_apply(batch_id)
        if profiler:
            profiler.disable()
        apply_seconds = time.perf_counter() - started
    stats = pstats.Stats(profiler) if profiler else None
    return InProcess(label, len(requests), events, view_seconds, apply_seconds, stats)


def rekey_charm(pieces: list[list[Piece]], prefix: str) -> list[Piece]:
    return [
        Piece(p.body, {**p.headers, "X-Charm-Run-Id": prefix + p.headers["X-Charm-Run-Id"]})
        for run in pieces
        for p in run
    ]


def where_time_goes(args, key: str, work: Workload) -> None:
    """The first `--split-runs` runs again, each way, under new run ids, in this process."""
    runs = min(args.split_runs, len(work.scripts))
    print(f"\n== Where the time goes: the first {runs:,} runs again, in this process, on the "
          f"Charm side's database (one core, no HTTP, no Celery, no profiler)")  # fmt: skip

    def ndjson(prefix: str, per_run: bool) -> list[Piece]:
        events = [rekeyed(run, prefix) for run in work.ndjson_by_run[:runs]]
        if per_run:
            bodies = [body for run in events for body in ndjson_batches(run, len(run))]
        else:
            bodies = ndjson_batches([e for run in events for e in run], args.batch)
        return [Piece(body, {"Content-Type": "application/x-ndjson"}) for body in bodies]

    # Warm up the view, the key lookup and the statements, then measure.
    in_process(key, rekey_charm(work.charm[:2], "warm-"), "warm-up", profile=False)
    figures = [
        in_process(key, ndjson("split-n-", False), f"NDJSON v1, {args.batch:,}/request", False),
        in_process(key, ndjson("split-r-", True), "NDJSON v1, one run/request", False),
        in_process(key, rekey_charm(work.charm[:runs], "split-c-"), "Charm stdout", False),
    ]
    print(f"{'':30}{'requests':>9}{'events':>8}{'ms/req':>8}{'events/s':>10}"
          f"{'ms/batch':>10}{'events/s':>10}")  # fmt: skip
    print(f"{'':47}{'-- ingest view --':>18}{'-- batch_apply --':>20}")
    for f in figures:
        print(
            f"{f.label:30}{f.requests:>9,}{f.events:>8,}"
            f"{1000 * f.view_seconds / f.requests:>8.1f}{f.events / f.view_seconds:>10,.0f}"
            f"{1000 * f.apply_seconds / f.requests:>10.1f}{f.events / f.apply_seconds:>10,.0f}"
        )
    profiled = in_process(key, rekey_charm(work.charm[:runs], "split-p-"), "profiled", True)
    stats, total = profiled.apply_stats, profiled.apply_seconds
    print(f"\n   batch_apply of the Charm batches again under cProfile ({total:.2f}s): waiting "
          f"on PostgreSQL {database_wait(stats) / total:.0%}")  # fmt: skip
    for module, function in [
        ("runs.ingest.inbox", "batch_apply"),
        ("runs.ingest.apply", "events_apply"),
    ]:
        print(f"\n   inside {module}.{function} (inclusive time of each call it makes):")
        for name, count, spent in children_of(stats, module, function)[:8]:
            print(f"   {name[:72]:72} {count:>8} {spent:>7.3f}s {spent / total:>6.1%}")


# Report --------------------------------------------------------------------------------------


def print_results(sides: list[Side], speeds: dict[str, ParseSpeed], runs: int) -> None:
    ndjson, charm = sides[0], sides[-1]
    print(f"\n== Results: {runs:,} runs, end to end until every run reads as succeeded")
    rows = [
        ("events (accepted)", lambda s: f"{s.accepted:,}", None),
        ("events per run", lambda s: f"{s.accepted / runs:.1f}", None),
        ("requests (202 / sent)", lambda s: f"{s.ok_requests:,} / {s.requests:,}", None),
        ("events per request", lambda s: f"{s.accepted / s.requests:,.0f}", None),
        ("failed/retried requests", lambda s: str(sum(s.failures.values())), None),
        ("ingest latency p50 (ms)", lambda s: f"{s.latency_ms['p50']:.1f}", "p50"),
        ("ingest latency p95 (ms)", lambda s: f"{s.latency_ms['p95']:.1f}", "p95"),
        ("ingest latency p99 (ms)", lambda s: f"{s.latency_ms['p99']:.1f}", "p99"),
        ("all 202s (s)", lambda s: f"{s.ingest_seconds:.1f}", None),
        ("all batches applied (s)", lambda s: f"{s.applied_seconds:.1f}", None),
        ("WALL: all runs succeeded (s)", lambda s: f"{s.visible_seconds:.1f}", None),
        ("END-TO-END (events/s)", lambda s: f"{s.rate:,.0f}", None),
    ]
    width = max(16, *(len(s.label) + 2 for s in sides))
    print(f"{'':30}" + "".join(f"{s.label:>{width}}" for s in sides) + f"{'charm/ndjson':>14}")
    for name, value, latency in rows:
        ratio = ""
        if latency:
            ratio = f"{charm.latency_ms[latency] / ndjson.latency_ms[latency]:.2f}"
        elif name.startswith("END"):
            ratio = f"{charm.rate / ndjson.rate:.2f}"
        elif name.startswith("WALL"):
            ratio = f"{charm.visible_seconds / ndjson.visible_seconds:.2f}"
        print(f"{name:30}" + "".join(f"{value(s):>{width}}" for s in sides) + f"{ratio:>14}")
    n, c = speeds["ndjson"], speeds["charm"]
    cells = [f"{n.rate:,.0f}"] + [""] * (len(sides) - 2) + [f"{c.rate:,.0f}"]
    print(
        f"{'PARSE ONLY, 1 core (events/s)':30}"
        + "".join(f"{cell:>{width}}" for cell in cells)
        + f"{c.rate / n.rate:>14.2f}"
    )
    for side in sides:
        if side.problems:
            print(f"!! {side.label}: " + "; ".join(side.problems))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2000, help="agent runs (≈107 lines each)")
    parser.add_argument("--batch", type=int, default=1000, help="events per NDJSON request")
    parser.add_argument(
        "--piece-lines", type=int, default=1000, help="most lines in one text/plain body"
    )
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--db", default="bench_charm_streams")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait to apply")
    parser.add_argument("--parse-rounds", type=int, default=3, help="parse-only: best of N")
    parser.add_argument(
        "--profile",
        choices=["auto", "always", "never"],
        default="auto",
        help="profile parse_body on the Charm bodies (auto: when Charm is the slower)",
    )
    parser.add_argument("--profile-top", type=int, default=20)
    parser.add_argument(
        "--split-runs",
        type=int,
        default=100,
        help="with the profile: time the view and batch_apply on this many runs, both ways",
    )
    parser.add_argument(
        "--per-run-ndjson",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also send the NDJSON one run per request, as the Charm side must",
    )
    parser.add_argument("--parse-only", action="store_true", help="no servers, no database")
    parser.add_argument("--keep-db", action="store_true", help="leave the database for a look")
    args = parser.parse_args()

    db_url = None if args.parse_only else bench_database_url(args.db)
    bench_environment(QUEUE, db_url)  # parsing alone needs no Django: no database
    from importlib.metadata import version

    print(f"{os.cpu_count()} CPUs shared by clients, web, workers and PostgreSQL; "
          f"Charm SDK: charmos {version('charmos')}")  # fmt: skip
    started = time.perf_counter()
    work = make_workload(args.runs, args.batch, args.piece_lines)
    charm_pieces_flat = [piece for pieces in work.charm for piece in pieces]
    charm_bytes = sum(len(p.body) for p in charm_pieces_flat)
    ndjson_bytes = sum(len(p.body) for p in work.ndjson)
    print(
        f"{args.runs:,} runs generated in {time.perf_counter() - started:.1f}s: "
        f"{work.charm_lines:,} Charm stdout lines in {len(charm_pieces_flat):,} bodies "
        f"({charm_bytes / 1e6:.1f} MB); {work.ndjson_events:,} v1 events in "
        f"{len(work.ndjson):,} NDJSON bodies ({ndjson_bytes / 1e6:.1f} MB)"
    )

    charm_events, rejected, noted = parse_all(charm_pieces_flat)
    ndjson_events, ndjson_rejected, _ = parse_all(work.ndjson)
    if rejected or noted or ndjson_rejected or ndjson_events != work.ndjson_events:
        sys.exit(
            f"the workload does not parse cleanly: Charm {rejected} rejected, {noted} noted; "
            f"NDJSON {ndjson_rejected} rejected, {ndjson_events:,} of {work.ndjson_events:,}"
        )
    speeds = {
        "ndjson": parse_speed(work.ndjson, args.parse_rounds),
        "charm": parse_speed(charm_pieces_flat, args.parse_rounds),
    }
    print(
        f"parse only, one core, best of {args.parse_rounds}: NDJSON "
        f"{speeds['ndjson'].rate:,.0f} events/s ({ndjson_events:,} events), Charm "
        f"{speeds['charm'].rate:,.0f} events/s ({charm_events:,} events), "
        f"charm/ndjson {speeds['charm'].rate / speeds['ndjson'].rate:.2f}"
    )
    if args.parse_only:
        if args.profile == "always" or (
            args.profile == "auto" and speeds["charm"].rate < speeds["ndjson"].rate
        ):
            profile_charm_parse(charm_pieces_flat, args.profile_top)
        return

    from studio.redis import redis_client

    sides = []
    try:
        ndjson_units = [[piece] for piece in work.ndjson]
        sides.append(measure_side(args, "NDJSON v1", ndjson_units, args.runs, ndjson_events))
        if args.per_run_ndjson:
            headers = {"Content-Type": "application/x-ndjson"}
            units = [
                [Piece(ndjson_batches(run, len(run))[0], headers)] for run in work.ndjson_by_run
            ]
            label = "NDJSON, 1 run/req"
            sides.append(measure_side(args, label, units, args.runs, ndjson_events))
        sides.append(measure_side(args, "Charm stdout", work.charm, args.runs, charm_events))
        print_results(sides, speeds, args.runs)
        slower = sides[-1].rate < sides[0].rate or speeds["charm"].rate < speeds["ndjson"].rate
        if args.profile == "always" or (args.profile == "auto" and slower):
            profile_charm_parse(charm_pieces_flat, args.profile_top)
            if args.split_runs:
                where_time_goes(args, sides[-1].key, work)
    finally:
        redis_client().delete(QUEUE)
        if not args.keep_db:
            database_drop(db_url)


if __name__ == "__main__":
    main()
