"""Load soak: a steady ingest rate for minutes, watching that Studio stays bounded.

Run from the repository root, with PostgreSQL and Redis up (see bench/README.md):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python -m bench.soak --minutes 5

It makes a throwaway database (`bench_soak`, dropped at the end), starts uvicorn and
`celery -A studio worker -c 2` on a queue of its own (bench.ingest_e2e's starters),
then a client in a separate process that posts the mixed workload (bench.ingest_e2e's:
100-event runs, 70% streamed tokens) as NDJSON requests over loopback at a set rate.

Without `--rate`, a short ramp first finds the highest rate the whole pipeline keeps
up with (every request answered, batches applied within seconds), and the soak runs
at `--fraction` (80%) of it. Every `--every` seconds it samples the API error rate,
p50/p99 latency, queue depth (Redis list length and pending batch rows), apply lag
(the oldest pending batch's age), and web and worker memory (RSS); prints a table;
writes a Plotly HTML file to `--out` (and a PNG beside it when Debian's chromium is
installed); and ends with a verdict: bounded or not.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path

from bench import ingest_e2e as e2e  # its workload, starters and helpers

BASE_DIR = Path(__file__).resolve().parent.parent
QUEUE = f"bench-soak-{uuid.uuid4().hex[:8]}"
POOL_RUNS = 300  # the workload's runs, sent again and again under new ids
RAMP_RATES = (500, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 12000, 16000)
CHROMIUM = "/usr/bin/chromium"


# The client: its own process, paced, one line per answer ------------------------------------


def bodies_forever(batch: int) -> Iterator[bytes]:
    """The mixed workload's NDJSON bodies, round after round under fresh run and event ids."""
    bodies = e2e.ndjson_batches(e2e.mixed_events(POOL_RUNS), batch)
    round_ = 0
    while True:
        prefix = f'"soak{round_}-'.encode()
        for body in bodies:
            yield body.replace(b'"mixed-11-', prefix)
        round_ += 1


def client_main(args) -> None:
    """Send at each step's rate (events/s) for its seconds; print `time status seconds
    accepted` per answer. Paced by the clock, not by answers: a slow server shows as
    requests falling behind, which the parent sees as a lower rate."""
    steps = [tuple(map(float, step.split(":"))) for step in args.schedule.split(",")]
    headers = {"Authorization": f"Bearer {args.key}", "Content-Type": "application/x-ndjson"}
    bodies = bodies_forever(args.batch)
    lock = threading.Lock()
    started = time.monotonic()
    plan = {"next": started, "step": 0, "step_ends": started + steps[0][1]}

    def next_slot() -> float | None:
        with lock:
            while plan["step"] < len(steps) and plan["next"] >= plan["step_ends"]:
                plan["step"] += 1
                if plan["step"] == len(steps):
                    break
                plan["next"] = max(plan["next"], plan["step_ends"])
                plan["step_ends"] += steps[plan["step"]][1]
            if plan["step"] == len(steps):
                return None
            slot = plan["next"]
            plan["next"] += args.batch / steps[plan["step"]][0]
            return slot

    def sender() -> None:
        conn = HTTPConnection("127.0.0.1", args.port, timeout=60)
        while (slot := next_slot()) is not None:
            with lock:
                body = next(bodies)
            time.sleep(max(0.0, slot - time.monotonic()))
            sent = time.monotonic()
            try:
                conn.request("POST", "/api/v1/ingest", body=body, headers=headers)
                response = conn.getresponse()
                answer = response.read()
                status = response.status
            except OSError:
                conn.close()
                conn = HTTPConnection("127.0.0.1", args.port, timeout=60)
                status, answer = 0, b""
            done = time.monotonic()
            accepted = json.loads(answer)["accepted"] if status == 202 else 0
            with lock:
                print(f"{done - started:.3f} {status} {done - sent:.4f} {accepted}", flush=True)
        conn.close()

    threads = [threading.Thread(target=sender) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# The parent: services, samples, ramp, soak, verdict -----------------------------------------------


@dataclass
class Answers:
    """What the client reported, read from its stdout in a thread."""

    rows: list[tuple[float, int, float, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self, stream) -> None:
        for line in stream:
            t, status, seconds, accepted = line.split()
            with self.lock:
                self.rows.append((float(t), int(status), float(seconds), int(accepted)))

    def between(self, start: float, end: float) -> list[tuple[float, int, float, int]]:
        with self.lock:
            return [row for row in self.rows if start <= row[0] < end]


@dataclass
class Sample:
    t: float
    target: float
    requests: int
    accepted_rate: float
    error_rate: float
    p50_ms: float
    p99_ms: float
    redis_depth: int
    pending: int
    lag_s: float
    web_mb: float
    worker_mb: float


def start_client(port: int, key: str, schedule: str, batch: int, clients: int):
    return subprocess.Popen(
        [sys.executable, "-m", "bench.soak", "--client", "--port", str(port), "--key", key,
         "--schedule", schedule, "--batch", str(batch), "--clients", str(clients)],
        cwd=BASE_DIR, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def rss_mb(service) -> float:
    return e2e.tree_rss(service) / 2**20


def queue_state() -> tuple[int, int, float]:
    """Redis list length, pending batch rows, and the oldest pending batch's age (s)."""
    from django.db import connection
    from django.db.models import Min
    from django.utils import timezone

    from runs.models import IngestBatch
    from studio.redis import redis_client

    depth = redis_client().llen(QUEUE)
    pending = IngestBatch.objects.filter(status=IngestBatch.Status.PENDING)
    oldest = pending.aggregate(oldest=Min("received_at"))["oldest"]
    count = pending.count()
    connection.close()  # a fresh snapshot next time
    lag = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    return depth, count, lag


def sample(answers: Answers, start: float, end: float, target: float, services) -> Sample:
    rows = answers.between(start, end)
    latencies = [seconds for _, status, seconds, _ in rows if status == 202]
    errors = sum(1 for _, status, _, _ in rows if status != 202)
    cuts = e2e.percentiles(latencies)
    depth, pending, lag = queue_state()
    return Sample(
        t=end,
        target=target,
        requests=len(rows),
        accepted_rate=sum(row[3] for row in rows) / (end - start),
        error_rate=errors / len(rows) if rows else 0.0,
        p50_ms=cuts["p50"] * 1000,
        p99_ms=cuts["p99"] * 1000,
        redis_depth=depth,
        pending=pending,
        lag_s=lag,
        web_mb=rss_mb(services["web"]),
        worker_mb=rss_mb(services["worker"]),
    )


HEADER = (
    f"{'t (s)':>7} {'target/s':>9} {'req':>5} {'events/s':>9} {'err %':>6} {'p50 ms':>7} "
    f"{'p99 ms':>7} {'redis':>6} {'pending':>8} {'lag s':>6} {'web MB':>7} {'worker MB':>10}"
)


def row(s: Sample) -> str:
    return (
        f"{s.t:7.0f} {s.target:9.0f} {s.requests:5d} {s.accepted_rate:9.0f} "
        f"{s.error_rate * 100:6.2f} {s.p50_ms:7.0f} {s.p99_ms:7.0f} {s.redis_depth:6d} "
        f"{s.pending:8d} {s.lag_s:6.1f} {s.web_mb:7.0f} {s.worker_mb:10.0f}"
    )


def watch(client, answers: Answers, every: float, target_at, services, stop=None) -> list[Sample]:
    """Sample every `every` s until the client ends (or `stop(samples)` says so)."""
    reader = threading.Thread(target=answers.read, args=(client.stdout,), daemon=True)
    reader.start()
    began = time.monotonic()
    samples: list[Sample] = []
    print(HEADER)
    while client.poll() is None:
        time.sleep(every - (time.monotonic() - began) % every)
        if client.poll() is not None:
            break  # ended inside this interval: a partial sample would read low
        end = time.monotonic() - began
        samples.append(sample(answers, end - every, end, target_at(end - every), services))
        print(row(samples[-1]), flush=True)
        if stop is not None and stop(samples):
            os.killpg(client.pid, 15)
            break
    client.wait()
    reader.join(timeout=5)
    return samples


def ramp(args, port: int, key: str, services) -> float:
    """The highest step rate the pipeline kept up with: nearly every event accepted,
    no errors, batches applied within `--max-lag` seconds and no backlog growing."""
    rates = [r for r in RAMP_RATES if r <= args.ramp_max]
    schedule = ",".join(f"{r}:{args.ramp_step}" for r in rates)
    print(f"\n== Ramp: {', '.join(map(str, rates))} events/s, {args.ramp_step:.0f} s each")

    def target_at(t: float) -> float:
        return rates[min(int(t // args.ramp_step), len(rates) - 1)]

    def step_failed(samples: list[Sample]) -> bool:
        last = samples[-1]
        return last.error_rate > 0.01 or last.lag_s > args.max_lag

    answers = Answers()
    client = start_client(port, key, schedule, args.batch, args.clients)
    samples = watch(client, answers, args.every, target_at, services, stop=step_failed)
    best = 0.0
    for rate in rates:
        within = [s for s in samples if s.target == rate]
        if len(within) * args.every < args.ramp_step * 0.9:
            break  # the step did not finish: the ramp stopped in it
        kept_up = all(s.error_rate <= 0.01 and s.lag_s <= args.max_lag for s in within)
        achieved = sum(s.accepted_rate for s in within[1:]) / max(1, len(within) - 1)
        # A backlog that grows through the step is not kept up with, even while short;
        # a tenth of the step's requests is noise on a shared machine.
        noise = 0.1 * rate * args.ramp_step / args.batch
        growing = within[-1].pending > 2 * within[0].pending + noise
        if not kept_up or growing or achieved < 0.9 * rate:
            break
        best = rate
    if best == 0:
        best = max((s.accepted_rate for s in samples), default=rates[0]) or rates[0]
    print(f"   highest rate kept up with: {best:,.0f} events/s")
    return best


def drain(timeout: float = 180) -> None:
    e2e.wait_until(lambda: queue_state()[1] == 0, timeout, "the ramp's batches applied", 1)


def verdict(samples: list[Sample]) -> list[tuple[str, bool, str]]:
    """Each check of boundedness: (what, passed, the figures)."""
    half = samples[len(samples) // 2 :]
    quarter = max(1, len(samples) // 4)
    early, late = samples[quarter : 2 * quarter] or samples[:1], samples[-quarter:]

    def mean(values) -> float:
        values = list(values)
        return sum(values) / len(values) if values else 0.0

    requests = sum(s.requests for s in samples)
    errors = sum(s.error_rate * s.requests for s in samples)
    checks = []
    for name, attr in (("web", "web_mb"), ("worker", "worker_mb")):
        # Two samples at each end of the last half: one sample is noisy.
        start = mean(getattr(s, attr) for s in half[:2])
        end = mean(getattr(s, attr) for s in half[-2:])
        grow = end / max(1e-9, start) - 1
        checks.append(
            (
                f"{name} RSS growth over the last half < 10%",
                grow < 0.10,
                f"{start:.0f} → {end:.0f} MB ({grow:+.1%})",
            )
        )
    early_pending, late_pending = mean(s.pending for s in early), mean(s.pending for s in late)
    checks.append(
        (
            "queue depth not growing (last quarter ≤ 1.5 × second quarter + 5)",
            late_pending <= 1.5 * early_pending + 5,
            f"pending {early_pending:.1f} → {late_pending:.1f} batches",
        )
    )
    late_lag = max(s.lag_s for s in late)
    checks.append(
        ("apply lag bounded (last quarter < 30 s)", late_lag < 30, f"max {late_lag:.1f} s")
    )
    early_p99, late_p99 = mean(s.p99_ms for s in early), mean(s.p99_ms for s in late)
    checks.append(
        (
            "p99 latency not growing (last quarter ≤ 2 × second quarter + 100 ms)",
            late_p99 <= 2 * early_p99 + 100,
            f"{early_p99:.0f} → {late_p99:.0f} ms",
        )
    )
    checks.append(
        (
            "API error rate < 1%",
            errors / max(1, requests) < 0.01,
            f"{errors:.0f} of {requests:,} requests",
        )
    )
    return checks


def write_plot(samples: list[Sample], out: Path, title: str) -> Path | None:
    """A self-contained Plotly HTML file (no CDN); a PNG beside it by headless chromium."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    def column(attr: str, scale: float = 1) -> list[float]:
        return [getattr(s, attr) * scale for s in samples]

    t = column("t")
    panels = (
        (
            "accepted events/s",
            [("events/s", column("accepted_rate")), ("target", column("target"))],
        ),
        ("latency (ms)", [("p50", column("p50_ms")), ("p99", column("p99_ms"))]),
        ("queue", [("pending batches", column("pending")), ("redis list", column("redis_depth"))]),
        ("apply lag (s)", [("oldest pending", column("lag_s"))]),
        ("RSS (MB)", [("web", column("web_mb")), ("worker", column("worker_mb"))]),
        ("API errors (%)", [("errors", column("error_rate", 100))]),
    )
    figure = make_subplots(
        rows=len(panels), cols=1, shared_xaxes=True, subplot_titles=[p[0] for p in panels]
    )
    for number, (title_, lines) in enumerate(panels, start=1):
        for name, values in lines:
            line = go.Scatter(
                x=t, y=values, name=name, mode="lines",
                legendgroup=str(number), legendgrouptitle_text=title_,
            )  # fmt: skip
            figure.add_trace(line, row=number, col=1)
    figure.update_layout(title=title, height=220 * len(panels), width=1100, template="plotly_white")
    figure.update_xaxes(title_text="seconds into the soak", row=len(panels), col=1)
    figure.write_html(out, include_plotlyjs=True)
    if not Path(CHROMIUM).exists():
        return None
    png = out.with_suffix(".png")
    profile = tempfile.mkdtemp(prefix="soak-chromium-")
    try:
        subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", f"--user-data-dir={profile}",
             f"--window-size=1140,{220 * len(panels) + 60}", "--virtual-time-budget=5000",
             f"--screenshot={png}", out.resolve().as_uri()],
            capture_output=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return png if png.exists() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5, help="length of the soak")
    parser.add_argument("--rate", type=float, help="events/s; default: --fraction of the ramp's")
    parser.add_argument("--fraction", type=float, default=0.8, help="of the measured maximum")
    parser.add_argument("--every", type=float, default=5, help="seconds between samples")
    parser.add_argument("--batch", type=int, default=200, help="events per request")
    parser.add_argument("--clients", type=int, default=8, help="client connections")
    parser.add_argument("--ramp-step", type=float, default=20, help="seconds per ramp step")
    parser.add_argument("--ramp-max", type=float, default=16000, help="highest ramp rate")
    parser.add_argument("--max-lag", type=float, default=5, help="apply lag a step may reach")
    parser.add_argument("--web", type=int, default=1, help="uvicorn processes")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("soak.html"), help="the plot (HTML)")
    parser.add_argument("--db", default="bench_soak")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--schedule", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return

    db_url = e2e.bench_database_url(args.db)
    e2e.bench_environment(QUEUE, db_url)
    from studio.redis import redis_client

    print(f"{os.cpu_count()} CPUs shared by the client, web, workers and PostgreSQL")
    e2e.database_recreate(db_url)
    _, key = e2e.setup_project()
    port = e2e.free_port()
    services = {
        "worker": e2e.start_workers(args.worker_concurrency),
        "web": e2e.start_web(port, args.web),
    }
    try:
        e2e.wait_until(lambda: e2e.http_get(port, "/healthz")[0] == 200, 60, "web server start")
        e2e.wait_until(lambda: e2e.workers_ready(services["worker"]), 60, "workers start", 0.5)
        rate = args.rate
        if rate is None:
            rate = ramp(args, port, key, services) * args.fraction
            drain()
        seconds = args.minutes * 60
        print(f"\n== Soak: {rate:,.0f} events/s for {seconds:.0f} s, {args.batch}-event requests")
        client = start_client(port, key, f"{rate}:{seconds}", args.batch, args.clients)
        samples = watch(client, Answers(), args.every, lambda _t: rate, services)
    finally:
        for service in reversed(list(services.values())):
            service.stop()
        redis_client().delete(QUEUE)
        if not args.keep_db:
            e2e.database_drop(db_url)

    checks = verdict(samples)
    png = write_plot(samples, args.out, f"Charm Studio soak: {rate:,.0f} events/s")
    print(f"\nplot: {args.out}" + (f" and {png}" if png else ""))
    print("\n== Verdict")
    for what, passed, figures in checks:
        print(f"   {'ok  ' if passed else 'FAIL'} {what}: {figures}")
    bounded = all(passed for _, passed, _ in checks)
    print("   BOUNDED: flat memory, steady queue" if bounded else "   NOT BOUNDED")
    sys.exit(0 if bounded else 1)


if __name__ == "__main__":
    main()
