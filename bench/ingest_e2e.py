"""End-to-end ingest benchmark: HTTP → batch row → Celery workers → runs readable.

Run from the repository root, with PostgreSQL and Redis up (see bench/README.md):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python -m bench.ingest_e2e

For each web configuration (1 and 2 uvicorn processes by default) it makes a throwaway
database (`bench_ingest`, dropped at the end), migrates it, starts real Celery workers
(`celery -A studio worker -c 2`) on a queue of its own and uvicorn on a free localhost
port, then sends the demo generator's events (1,000 runs ≈ 300,000 events) as
1,000-event NDJSON requests from a few client threads, and measures:

* ingest latency per request (p50/p95/p99) and ingest throughput (accepted events/s);
* end to end: from the first request until every batch is applied and the last run is
  readable, complete, through GET /api/v1/runs/<run_id>.

Last, it profiles the worker's `runs.ingest.inbox.batch_apply` (and the ingest view) in this
process under cProfile on a few fresh batches, and prints where the time goes.
"""

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
QUEUE = f"bench-ingest-{uuid.uuid4().hex[:8]}"
MAX_ATTEMPTS = 5  # per request, on 429/503
PROFILE_LEAD = 6  # batches applied before the profiled ones, so their runs exist


# Setup: database, environment, processes -------------------------------------------------


def bench_database_url(db_name: str) -> str:
    base = os.environ.get("DATABASE_URL")
    if not base or not os.environ.get("REDIS_URL"):
        sys.exit("set DATABASE_URL (any database on the server to use) and REDIS_URL")
    if not db_name.startswith("bench_"):
        sys.exit("the benchmark database's name must start with bench_: it is dropped")
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path="/" + db_name))


def admin_sql(db_url: str, statement: str) -> None:
    import psycopg

    admin_url = urlunsplit(urlsplit(db_url)._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(statement)


def database_recreate(db_url: str) -> None:
    from django.core.management import call_command
    from django.db import connections

    from runs.partitions import forget_known

    connections.close_all()
    name = urlsplit(db_url).path.lstrip("/")
    admin_sql(db_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin_sql(db_url, f'CREATE DATABASE "{name}"')
    forget_known()
    call_command("migrate", verbosity=0)


def database_drop(db_url: str) -> None:
    from django.db import connections

    connections.close_all()
    name = urlsplit(db_url).path.lstrip("/")
    admin_sql(db_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Service:
    name: str
    process: subprocess.Popen

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown, no acks, as a crash."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)  # its own session: only what we started
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def log_path(name: str) -> Path:
    return Path(tempfile.gettempdir()) / f"bench-ingest-{name}.log"


def start(name: str, args: list[str], env: dict | None = None, log: Path | None = None) -> Service:
    """Start a process in its own session, its output in `log` (default: the bench's)."""
    out = open(log or log_path(name), "w")  # noqa: SIM115 - kept open for the child
    process = subprocess.Popen(
        args, cwd=BASE_DIR, env=env or os.environ.copy(), stdout=out, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    return Service(name, process)


def start_workers(concurrency: int, env: dict | None = None, log: Path | None = None) -> Service:
    return start(
        "worker",
        [sys.executable, "-m", "celery", "-A", "studio", "worker", "-l", "warning",
         "-c", str(concurrency), "--without-heartbeat", "--without-gossip", "--without-mingle",
         "-n", f"bench-{uuid.uuid4().hex[:6]}@%h"],
        env, log,
    )  # fmt: skip


def start_web(
    port: int, processes: int, env: dict | None = None, log: Path | None = None
) -> Service:
    return start(
        "web",
        [sys.executable, "-m", "uvicorn", "studio.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(processes), "--no-access-log",
         "--log-level", "warning"],
        env, log,
    )  # fmt: skip


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what}: not done after {timeout:.0f}s")


def http_get(port: int, path: str, headers: dict | None = None) -> tuple[int, bytes]:
    conn = HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    except OSError:
        return 0, b""
    finally:
        conn.close()


def workers_ready(service: Service) -> bool:
    from studio.celery import app

    if service.process.poll() is not None:
        raise RuntimeError(f"the Celery worker exited; see {log_path('worker')}")
    replies = app.control.ping(timeout=0.5) or []
    return any(name.startswith("bench-") for reply in replies for name in reply)


# Events ----------------------------------------------------------------------------------------


def demo_events(runs: int, repeat: int, seed: int = 7) -> list[dict]:
    """The demo events, sent `repeat` times, each time under new run and event ids."""
    from runs.demo import generate_demo_events

    events = generate_demo_events(runs=runs, seed=seed)
    if repeat == 1:
        return events
    out = []
    for round_ in range(repeat):
        for event in events:
            out.append(
                {
                    **event,
                    "run_id": f"{event['run_id']}~{round_}",
                    "event_id": f"{event['event_id']}~{round_}",
                }
            )
    return out


def mixed_events(runs: int, seed: int = 11) -> list[dict]:
    """The mixed workload: per run, 100 events (run start, two status changes,
    10 tool start/end pairs with span ids, 70 streamed tokens of one call, its usage, 5
    logs, run end) over 20 s; a run starts every 0.5 s, so about 40 are open at once and
    a run's events span several requests. Sorted by time, as a live fleet sends them."""
    rng = random.Random(seed)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    events: list[tuple[float, dict]] = []
    for n in range(runs):
        run_id = f"mixed-{seed}-{n:06d}"
        t0 = n * 0.5
        kinds: list[tuple[float, str, dict]] = [
            (0.0, "run_start", {"inputs": {"ticket": n, "priority": rng.choice("abc")}}),
            (0.1, "status", {"status": "validating", "message": "checking inputs"}),
            (0.2, "status", {"status": "running"}),
        ]
        for tool in range(10):
            at = 0.5 + tool * 1.0
            span = f"t{tool}"
            name = rng.choice(("search", "fetch", "lookup"))
            kinds.append((at, "tool_start", {"tool_name": name, "input_str": f"q{n}-{tool}",
                                             "span_id": span}))  # fmt: skip
            kinds.append((at + 0.3, "tool_end", {"tool_name": name, "output": {"hits": tool},
                                                 "span_id": span}))  # fmt: skip
        for token in range(70):
            data = {"token": rng.choice(WORDS) + " ", "model": "gpt-4o", "call_id": "c1"}
            kinds.append((11.0 + token * 0.1, "llm_new_token", data))
        kinds.append((18.1, "usage", {"model": "gpt-4o", "input_tokens": 1200,
                                      "output_tokens": 70, "call_id": "c1"}))  # fmt: skip
        for line in range(5):
            kinds.append((18.2 + line * 0.3, "log", {"message": f"step {line} of run {n}",
                                                     "level": "info"}))  # fmt: skip
        kinds.append((20.0, "run_end", {"outputs": {"answer": "done", "ticket": n}}))
        for seq, (at, type_, data) in enumerate(kinds):
            ts = start + timedelta(seconds=t0 + at)
            events.append((t0 + at, {
                "v": 1, "event_id": f"{run_id}-{seq}", "run_id": run_id, "seq": seq,
                "ts": ts.isoformat().replace("+00:00", "Z"), "type": type_,
                "agent": {"name": f"agent-{n % 4}", "version": "1.0.0"}, "data": data,
            }))  # fmt: skip
    events.sort(key=lambda pair: pair[0])
    return [event for _, event in events]


WORDS = ("the", "invoice", "is", "overdue", "customer", "refund", "paid", "ticket", "agent")


def copy_rate(db_url: str, events: list[dict]) -> float:
    """Rows/s of COPY of the same events into a fresh table with two indexes (the event
    table's key and its run index): the ceiling the pipeline is held against."""
    import psycopg

    rows = [
        (e["event_id"], e["ts"], n // 100, e["type"], e["seq"], json.dumps(e["data"]))
        for n, e in enumerate(events)
    ]
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE bench_copy (project_id bigint NOT NULL DEFAULT 1, event_id text, "
            "ts timestamptz, run_pk bigint, type text, seq bigint, data jsonb, "
            "PRIMARY KEY (project_id, event_id, ts))"
        )
        conn.execute("CREATE INDEX ON bench_copy (run_pk, ts)")
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cursor:
            columns = "event_id, ts, run_pk, type, seq, data"
            with cursor.copy(f"COPY bench_copy ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE bench_copy")
    return len(rows) / seconds


def ndjson_batches(events: list[dict], size: int) -> list[bytes]:
    lines = [json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in events]
    return ["".join(lines[i : i + size]).encode() for i in range(0, len(lines), size)]


# Sending -------------------------------------------------------------------------------------


@dataclass
class SendResult:
    latencies: list[float] = field(default_factory=list)  # seconds, per 202
    accepted: int = 0
    rejected: int = 0
    failures: Counter = field(default_factory=Counter)
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def send_all(
    port: int, key: str, bodies: list[bytes], clients: int, interval: float | None = None
) -> SendResult:
    """Send every body from `clients` threads. With `interval`, open loop: body i is due
    `i * interval` seconds after the start, and its latency counts from when it was due,
    so a server that falls behind shows the wait (no coordinated omission)."""
    result = SendResult()
    next_body = iter(range(len(bodies)))
    take = threading.Lock()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
    start = time.perf_counter()

    def client() -> None:
        conn = HTTPConnection("127.0.0.1", port, timeout=300)
        while True:
            with take:
                index = next(next_body, None)
            if index is None:
                break
            due = None
            if interval is not None:
                due = start + index * interval
                time.sleep(max(0.0, due - time.perf_counter()))
            for _attempt in range(MAX_ATTEMPTS):
                started = due or time.perf_counter()
                try:
                    conn.request("POST", "/api/v1/ingest", body=bodies[index], headers=headers)
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
                    break
                with result.lock:
                    result.failures[str(response.status)] += 1
                    result.retries += 1
                if response.status not in (429, 503):
                    break
                time.sleep(min(5, int(response.getheader("Retry-After") or 1)))
        conn.close()

    run_clients(client, clients)
    return result


# One configuration -----------------------------------------------------------------------------


@dataclass
class Figures:
    label: str
    requests: int
    ok_requests: int
    events_sent: int
    accepted: int
    failures: dict
    latency_ms: dict
    ingest_seconds: float
    applied_seconds: float
    visible_seconds: float
    backlog_at_last_202: int
    apply_wait_ms: dict
    peak_rss_mb: float = 0.0  # web and workers together
    copy_rate: float = 0.0  # rows/s of COPY of the same events, same database
    cpu_us_per_event: dict = field(default_factory=dict)  # by process group

    @property
    def ingest_rate(self) -> float:
        return self.accepted / self.ingest_seconds

    @property
    def end_to_end_rate(self) -> float:
        return self.accepted / self.visible_seconds


def cpu_seconds(services: list) -> dict[str, float]:
    """CPU seconds used so far by each service's process tree, PostgreSQL (its live and
    its ended processes) and this process (the clients)."""
    import psutil

    def tree(pid: int) -> float:
        total = 0.0
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                times = proc.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            pass
        return total

    used = {service.name: tree(service.process.pid) for service in services}
    used["postgres"] = 0.0
    for proc in psutil.process_iter(["name", "cpu_times"]):
        times = proc.info["cpu_times"]
        if proc.info["name"] and proc.info["name"].startswith("postgres") and times:
            # The children's part is the postmaster's ended backends: a web request's
            # connection ends with the request.
            used["postgres"] += times.user + times.system + times.children_user
            used["postgres"] += times.children_system
    mine = psutil.Process().cpu_times()
    used["clients"] = mine.user + mine.system
    return used


def tree_rss(service: Service) -> int:
    """Resident bytes of the service's process and its children; 0 once it is gone."""
    import psutil

    total = 0
    try:
        root = psutil.Process(service.process.pid)
        for proc in [root, *root.children(recursive=True)]:
            total += proc.memory_info().rss
    except psutil.Error:
        pass
    return total


class PeakMemory:
    """The highest resident memory of the given process groups together, sampled every
    0.2 s in a thread while in use."""

    def __init__(self, services: list):
        self.services = services
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, sum(tree_rss(service) for service in self.services))

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": 0}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98], "max": max(values)}


def setup_project() -> tuple:
    from studio.apikeys import apikey_create
    from studio.services import organization_get_or_create, project_get_or_create

    org = organization_get_or_create(name="Bench")
    project = project_get_or_create(organization=org, name="Ingest bench")
    return project, apikey_create(project=project, scopes=["ingest", "read"])[1]


def run_configuration(args, db_url: str, web_processes: int, events: list[dict]) -> Figures:
    from django.db import connection
    from django.db.models import Sum

    from runs.models import IngestBatch, Run

    database_recreate(db_url)
    project, key = setup_project()
    bodies = ndjson_batches(events, args.batch)
    last_run_id = events[-1]["run_id"]
    expected_last = sum(1 for e in events if e["run_id"] == last_run_id)
    port = free_port()
    label = f"{web_processes} web + {args.worker_concurrency} worker proc."
    load = f"offered at {args.rate:,} events/s" if args.rate else "as fast as they answer"
    print(f"\n== {label}: {len(bodies)} requests of {args.batch} events, {args.clients} clients, "
          f"{load}")  # fmt: skip

    services = [start_workers(args.worker_concurrency), start_web(port, web_processes)]
    try:
        wait_until(lambda: http_get(port, "/healthz")[0] == 200, 60, "web server start")
        wait_until(lambda: workers_ready(services[0]), 60, "workers start", interval=0.5)

        memory = PeakMemory(services).__enter__()
        cpu_before = cpu_seconds(services)
        started = time.perf_counter()
        interval = args.batch / args.rate if args.rate else None
        sent = send_all(port, key, bodies, args.clients, interval)
        ingest_done = time.perf_counter()
        connection.close()
        backlog = IngestBatch.objects.filter(status=IngestBatch.Status.PENDING).count()
        print(f"   all 202s in {ingest_done - started:.1f}s; {backlog} batches still pending")

        def all_applied() -> bool:
            counts = Counter(IngestBatch.objects.values_list("status", flat=True))
            if counts[IngestBatch.Status.FAILED]:
                raise RuntimeError(f"{counts['failed']} batches failed; see {log_path('worker')}")
            return counts[IngestBatch.Status.PENDING] == 0

        wait_until(all_applied, args.timeout, "applying every batch", interval=0.1)
        applied = time.perf_counter()
        read = {"Authorization": f"Bearer {key}"}

        def last_run_complete() -> bool:
            status, body = http_get(port, f"/api/v1/runs/{last_run_id}", read)
            return status == 200 and json.loads(body)["events"] == expected_last

        wait_until(last_run_complete, 60, "the last run readable", interval=0.05)
        visible = time.perf_counter()
        memory.__exit__()
        cpu = {k: v - cpu_before[k] for k, v in cpu_seconds(services).items()}
    finally:
        for service in reversed(services):
            service.stop()

    runs = Run.objects.filter(project=project)
    stored = runs.aggregate(total=Sum("event_count"))["total"] or 0
    expected_runs = len({e["run_id"] for e in events})
    if runs.count() != expected_runs or stored != sent.accepted:
        print(f"   !! {runs.count()} runs (expected {expected_runs}), {stored} events counted "
              f"(accepted {sent.accepted})")  # fmt: skip
    waits = [
        (b.applied_at - b.received_at).total_seconds()
        for b in IngestBatch.objects.only("applied_at", "received_at")
        if b.applied_at
    ]
    return Figures(
        label=label,
        requests=len(bodies),
        ok_requests=len(sent.latencies),
        events_sent=len(events),
        accepted=sent.accepted,
        failures=dict(sent.failures),
        latency_ms={k: v * 1000 for k, v in percentiles(sent.latencies).items()},
        ingest_seconds=ingest_done - started,
        applied_seconds=applied - started,
        visible_seconds=visible - started,
        backlog_at_last_202=backlog,
        apply_wait_ms={k: v * 1000 for k, v in percentiles(waits).items()},
        peak_rss_mb=memory.peak / 2**20,
        cpu_us_per_event={k: v / max(1, sent.accepted) * 1e6 for k, v in cpu.items()},
        copy_rate=copy_rate(db_url, events),
    )


# Profiles ------------------------------------------------------------------------------------


def profile_worker(project, batches: list[list[dict]]) -> tuple[pstats.Stats, float, int]:
    """batch_apply of each batch in this process, under cProfile."""
    from django.db import transaction

    from runs.ingest.inbox import batch_apply, batch_store
    from runs.protocol import validate_event

    ids = []
    for batch in batches:
        parsed = [validate_event(e) for e in batch]
        with transaction.atomic():
            ids += [b.pk for b in batch_store(project=project, events=parsed, rejected=[])]
    profiler = cProfile.Profile()
    with small_heap():
        started = time.perf_counter()
        profiler.enable()
        for batch_id in ids:
            batch_apply(batch_id)
        profiler.disable()
        seconds = time.perf_counter() - started
    return pstats.Stats(profiler), seconds, sum(map(len, batches))


def time_worker(project, batches: list[list[dict]]) -> tuple[float, "SqlTimer"]:
    """batch_apply of each batch in this process, without the profiler: seconds, and the
    time of each SQL statement."""
    from django.db import connection, transaction

    from runs.ingest.inbox import batch_apply, batch_store
    from runs.protocol import validate_event

    ids = []
    for batch in batches:
        parsed = [validate_event(e) for e in batch]
        with transaction.atomic():
            ids += [b.pk for b in batch_store(project=project, events=parsed, rejected=[])]
    connection.ensure_connection()
    with small_heap(), SqlTimer() as timer:
        started = time.perf_counter()
        for batch_id in ids:
            batch_apply(batch_id)
        return time.perf_counter() - started, timer


class SqlTimer:
    """Wall time of every SQL statement, by the code that sent it: psycopg's
    Cursor.execute is wrapped while in use, so Django's cursors (client-side binding)
    and the pipeline's own psycopg cursors (server-side binding) are both counted."""

    def __init__(self) -> None:
        self.seconds: Counter = Counter()
        self.calls: Counter = Counter()

    def __enter__(self) -> "SqlTimer":
        import psycopg

        self.original = original = psycopg.Cursor.execute
        timer = self

        def execute(cursor, query, params=None, **kwargs):
            started = time.perf_counter()
            try:
                return original(cursor, query, params, **kwargs)
            finally:
                text = query if isinstance(query, str) else str(query)
                label = f"{timer._caller()}: {' '.join(text.split())[:44]}"
                timer.seconds[label] += time.perf_counter() - started
                timer.calls[label] += 1

        psycopg.Cursor.execute = execute
        return self

    def __exit__(self, *exc) -> None:
        import psycopg

        psycopg.Cursor.execute = self.original

    @staticmethod
    def _caller() -> str:
        frame = sys._getframe(2)
        while frame:
            filename = frame.f_code.co_filename
            if filename.startswith(str(BASE_DIR)) and "/.venv/" not in filename:
                return f"{Path(filename).stem}.{frame.f_code.co_name}"
            frame = frame.f_back
        return "?"


@contextmanager
def small_heap():
    """Hide this process's own objects (300,000 generated events) from the cyclic GC, so
    its collections cost what they cost in a worker, not what they cost here."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def profile_view(bodies: list[bytes], key: str) -> tuple[pstats.Stats, float]:
    """The ingest view on each body, in this process (no HTTP server), under cProfile."""
    from django.test import RequestFactory

    from runs.api import ingest

    factory = RequestFactory()
    requests = [
        factory.post(
            "/api/v1/ingest", body, content_type="application/x-ndjson",
            headers={"Authorization": f"Bearer {key}"},
        )
        for body in bodies
    ]  # fmt: skip
    profiler = cProfile.Profile()
    with small_heap():
        started = time.perf_counter()
        profiler.enable()
        for request in requests:
            assert ingest(request).status_code == 202
        profiler.disable()
        return pstats.Stats(profiler), time.perf_counter() - started


def _in_module(filename: str, module: str) -> bool:
    path = "/" + module.replace(".", "/")
    return filename.endswith(path + ".py") or f"{path}/" in filename


def cumulative_of(stats: pstats.Stats, module: str, function: str) -> float:
    return sum(
        ct
        for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items()
        if name == function and _in_module(filename, module)
    )


def children_of(stats: pstats.Stats, module: str, function: str) -> list[tuple[str, int, float]]:
    """What `function` calls directly: (name, calls, inclusive seconds), biggest first."""
    rows = []
    for (filename, line, name), (_cc, _nc, _tt, _ct, callers) in stats.stats.items():
        for (caller_file, _caller_line, caller_name), timing in callers.items():
            if caller_name == function and _in_module(caller_file, module):
                rows.append((_short(filename, line, name), timing[1], timing[3]))
    return sorted(rows, key=lambda row: -row[2])


def _short(filename: str, line: int, name: str) -> str:
    if "site-packages/" in filename:
        filename = filename.split("site-packages/", 1)[1]
    elif filename.startswith(str(BASE_DIR)):
        filename = filename[len(str(BASE_DIR)) + 1 :]
    return f"{filename}:{line}({name})" if filename != "~" else name


def print_breakdown(stats: pstats.Stats, total: float, module: str, function: str) -> None:
    print(f"\n   inside {module}.{function} (inclusive time of each call it makes):")
    for name, calls, seconds in children_of(stats, module, function):
        if seconds >= 0.005 * total:
            print(f"   {name[:70]:70} {calls:>6} {seconds:>7.3f}s {seconds / total:>6.1%}")


def database_wait(stats: pstats.Stats) -> float:
    """Seconds waiting on PostgreSQL: psycopg's wait on the socket, every query."""
    return sum(
        ct
        for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items()
        if name == "wait" and filename.endswith("psycopg/connection.py")
    )


def print_top(stats: pstats.Stats, title: str, limit: int, sort: str) -> None:
    out = io.StringIO()
    stats.stream = out
    stats.sort_stats(sort).print_stats(limit)
    text = out.getvalue()
    body = text[text.find("   ncalls") :] if "   ncalls" in text else text
    print(f"\n-- {title}: top {limit} by {sort} time --")
    print(body.replace(str(BASE_DIR) + "/", "").replace(".venv/lib/python3.11/", "").rstrip())


def run_profiles(args) -> None:
    if args.profile_batches < 1:
        return
    print("\n== Profile (in this process, on the last configuration's database)")
    project, key = setup_project()
    runs = max(10, args.profile_batches * 4)
    if args.workload == "mixed":
        # Enough for the lead and the chosen batches: 10 runs a batch, 40 open at once.
        events = mixed_events((PROFILE_LEAD + args.profile_batches) * 10 + 80, seed=99)
    else:
        events = demo_events(runs=runs, repeat=1, seed=99)
    batches = [events[i : i + args.batch] for i in range(0, len(events), args.batch)]
    middle = max(0, len(batches) // 2 - args.profile_batches // 2)
    chosen = batches[middle : middle + args.profile_batches]
    # The batches before the chosen ones are applied first, untimed: as in the end-to-end
    # run, the chosen batches then carry on runs already stored as well as start new ones.
    lead = batches[max(0, middle - PROFILE_LEAD) : middle]
    for prefix in ("time-", "prof-"):
        time_worker(project, [rekeyed(b, prefix) for b in lead])

    plain, sql = time_worker(project, [rekeyed(b, "time-") for b in chosen])
    stats, seconds, count = profile_worker(project, [rekeyed(b, "prof-") for b in chosen])
    total = cumulative_of(stats, "runs.ingest.inbox", "batch_apply")
    wait = database_wait(stats)
    print(
        f"worker: batch_apply on {len(chosen)} batches of a live stream, {count:,} events, one "
        f"process: {plain:.2f}s = {count / plain:,.0f} events/s ({seconds:.2f}s under the "
        f"profiler); waiting on PostgreSQL {wait / total:.0%}, Python {1 - wait / total:.0%}"
    )
    in_sql = sum(sql.seconds.values())
    print(
        f"\n   SQL statements, without the profiler: {in_sql:.2f}s of {plain:.2f}s "
        f"({in_sql / plain:.0%}); by sender (share of batch_apply's wall time):"
    )
    for label, seconds in sql.seconds.most_common(12):
        print(f"   {label[:70]:70} {sql.calls[label]:>6} {seconds:>7.3f}s {seconds / plain:>6.1%}")
    print_breakdown(stats, total, "runs.ingest.inbox", "batch_apply")
    print_breakdown(stats, total, "runs.ingest.apply", "_events_apply")
    print_breakdown(stats, total, "runs.ingest.calls", "calls_apply")
    print_top(stats, "worker batch_apply", args.profile_top, "cumulative")
    print_top(stats, "worker batch_apply", 20, "tottime")

    bodies = ndjson_batches([e for b in chosen for e in rekeyed(b, "prof-web-")], args.batch)
    stats, seconds = profile_view(bodies, key)
    total = cumulative_of(stats, "runs.api", "ingest")
    print(
        f"\nweb: the ingest view on {len(bodies)} bodies of {args.batch} events: {seconds:.2f}s "
        f"({count / seconds:,.0f} events/s in one process, under the profiler); waiting on "
        f"PostgreSQL {database_wait(stats) / total:.0%}"
    )
    print_breakdown(stats, total, "runs.api", "ingest")
    print_breakdown(stats, total, "runs.ingest.inbox", "batch_store")
    print_top(stats, "web ingest view", 15, "tottime")


def rekeyed(events: list[dict], prefix: str) -> list[dict]:
    return [
        {**e, "run_id": prefix + e["run_id"], "event_id": (prefix + e["event_id"])[:64]}
        for e in events
    ]


def run_clients(client, clients: int) -> None:
    """Run `client` in `clients` threads at once and wait for all of them."""
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def bench_environment(queue: str, db_url: str | None) -> None:
    """The settings every bench's web and workers inherit: its own queue and database,
    no rate limit, quiet logs; Django set up here when there is a database."""
    os.environ.update(
        CELERY_QUEUE=queue,
        DEBUG="0",
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-" + uuid.uuid4().hex),
        INGEST_RATE_LIMIT_PER_MINUTE="0",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="studio.settings",
    )
    sys.path.insert(0, str(BASE_DIR))
    if db_url:
        os.environ["DATABASE_URL"] = db_url
        import django

        django.setup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs (demo ≈300 events, mixed 100)")
    parser.add_argument(
        "--workload", choices=("demo", "mixed"), default="demo",
        help="demo: the demo generator's runs; mixed: 100-event runs, 70%% tokens",
    )  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1, help="send the runs this many times")
    parser.add_argument("--batch", type=int, default=1000, help="events per request")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    parser.add_argument(
        "--rate", type=int, default=0,
        help="open loop: offer this many events/s and time requests from when they were due "
        "(give enough --clients); 0: each client sends as soon as its last answer came",
    )  # fmt: skip
    parser.add_argument(
        "--web", default="1,2", help="uvicorn process counts to measure; 0: profile only"
    )
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--db", default="bench_ingest")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait to apply")
    parser.add_argument("--profile-batches", type=int, default=5)
    parser.add_argument("--profile-top", type=int, default=30)
    parser.add_argument("--keep-db", action="store_true", help="leave the database for a look")
    args = parser.parse_args()

    db_url = bench_database_url(args.db)
    bench_environment(QUEUE, db_url)
    from studio.redis import redis_client

    print(f"{os.cpu_count()} CPUs shared by clients, web, workers and PostgreSQL")
    started = time.perf_counter()
    if args.workload == "mixed":
        events = mixed_events(args.runs * args.repeat)
    else:
        events = demo_events(args.runs, args.repeat)
    print(f"{len(events):,} demo events of {len({e['run_id'] for e in events}):,} runs "
          f"generated in {time.perf_counter() - started:.1f}s; types: "
          + ", ".join(f"{t} {n:,}" for t, n in Counter(e["type"] for e in events).most_common(4))
          )  # fmt: skip
    figures = []
    try:
        for processes in [int(p) for p in args.web.split(",") if p.strip() not in ("", "0")]:
            figures.append(run_configuration(args, db_url, processes, events))
        if figures:
            print_figures(figures)
        else:
            database_recreate(db_url)
        del events
        run_profiles(args)
    finally:
        redis_client().delete(QUEUE)
        if not args.keep_db:
            database_drop(db_url)


def print_figures(figures: list[Figures]) -> None:
    print("\n== Results (accepted events; latency per 1,000-event request)")
    rows = [
        ("requests (202 / sent)", lambda f: f"{f.ok_requests:,} / {f.requests:,}"),
        ("events accepted", lambda f: f"{f.accepted:,}"),
        ("failed/retried requests", lambda f: str(sum(f.failures.values()))),
        ("ingest latency p50 (ms)", lambda f: f"{f.latency_ms['p50']:.0f}"),
        ("ingest latency p95 (ms)", lambda f: f"{f.latency_ms['p95']:.0f}"),
        ("ingest latency p99 (ms)", lambda f: f"{f.latency_ms['p99']:.0f}"),
        ("ingest latency max (ms)", lambda f: f"{f.latency_ms['max']:.0f}"),
        ("ingest time (s)", lambda f: f"{f.ingest_seconds:.1f}"),
        ("ingest throughput (events/s)", lambda f: f"{f.ingest_rate:,.0f}"),
        ("pending batches at last 202", lambda f: f"{f.backlog_at_last_202:,}"),
        ("all batches applied (s)", lambda f: f"{f.applied_seconds:.1f}"),
        ("last run readable (s)", lambda f: f"{f.visible_seconds:.1f}"),
        ("END-TO-END (events/s)", lambda f: f"{f.end_to_end_rate:,.0f}"),
        ("COPY, same rows (rows/s)", lambda f: f"{f.copy_rate:,.0f}"),
        ("end to end / COPY", lambda f: f"{f.end_to_end_rate / f.copy_rate:.2f}"),
        ("web + workers peak RSS (MB)", lambda f: f"{f.peak_rss_mb:,.0f}"),
        *[
            (f"CPU µs/event: {name}", lambda f, name=name: f"{f.cpu_us_per_event[name]:.1f}")
            for name in ("web", "worker", "postgres", "clients")
        ],
        ("batch wait+apply p50 (ms)", lambda f: f"{f.apply_wait_ms['p50']:,.0f}"),
        ("batch wait+apply p95 (ms)", lambda f: f"{f.apply_wait_ms['p95']:,.0f}"),
    ]
    width = max(len(f.label) for f in figures) + 2
    print(f"{'':32}" + "".join(f"{f.label:>{width}}" for f in figures))
    for name, value in rows:
        print(f"{name:32}" + "".join(f"{value(f):>{width}}" for f in figures))


if __name__ == "__main__":
    main()
