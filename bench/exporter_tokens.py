"""What Charm Studio's exporter costs an agent per streamed token, and how fast it sends.

Run from the repository root: `.venv/bin/python -m bench.exporter_tokens`.

A receiver in a child process (so that it does not compete for this process's GIL)
takes `POST /api/v1/ingest` like Studio and answers 202. This process starts a run and
calls `on_llm_new_token` back to back (`--calls 200000`), timing each call on the
calling thread, then waits until the sender has delivered everything. Two buffers:
the default 10,000 events, where a burst this fast overflows and tokens are shed (as
designed: the agent is never slowed), and one large enough to keep every event, which
measures the sender's throughput. No asserts: it prints figures.
"""

import argparse
import gzip
import multiprocessing
import os
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection

from charm_studio import StudioExporter, flush
from charm_studio import sender as sender_module


def receive(conn: Connection) -> None:
    """The child process: count events and requests until told to stop."""
    counts = {"events": 0, "requests": 0, "tokens": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = gzip.decompress(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                counts["events"] += body.count(b"\n")
                counts["tokens"] += body.count(b'"type":"llm_new_token"')
                counts["requests"] += 1
            reply = b'{"accepted": 0, "rejected": []}'
            self.send_response(202)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send(server.server_address[1])
    while True:
        message = conn.recv()
        with lock:
            conn.send(dict(counts))
        if message == "stop":
            return


def timed_calls(hook, calls: int) -> list[int]:
    timings = [0] * calls
    clock = time.perf_counter_ns
    for n in range(calls):
        started = clock()
        hook(token="tok ")
        timings[n] = clock() - started
    return timings


def percentile(sorted_ns: list[int], fraction: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(len(sorted_ns) * fraction))] / 1000


def scenario(name: str, calls: int, buffer: int | None, receiver: Connection) -> None:
    sender_module._discard_sender()
    if buffer is None:
        os.environ.pop("CHARM_STUDIO_BUFFER", None)
    else:
        os.environ["CHARM_STUDIO_BUFFER"] = str(buffer)
    before = _counts(receiver)
    exporter = StudioExporter()
    exporter.on_run_start(run_id="local", inputs={"input": "bench"})
    timed_calls(exporter.on_llm_new_token, 2_000)  # warm up
    started = time.perf_counter()
    timings = sorted(timed_calls(exporter.on_llm_new_token, calls))
    calling = time.perf_counter() - started
    flush(timeout=120)
    sending = time.perf_counter() - started
    after = _counts(receiver)
    events = after["events"] - before["events"]
    tokens = after["tokens"] - before["tokens"]
    requests = after["requests"] - before["requests"]
    sent = calls + 2_000 + 1
    print(f"\n{name}")
    print(
        f"  on_llm_new_token: median {percentile(timings, 0.5):.2f} µs, "
        f"p99 {percentile(timings, 0.99):.2f} µs, p99.9 {percentile(timings, 0.999):.2f} µs, "
        f"mean {statistics.fmean(timings) / 1000:.2f} µs, max {timings[-1] / 1000:,.0f} µs"
    )
    print(f"  {calls:,} calls in {calling:.2f} s ({calls / calling:,.0f} calls/s)")
    print(
        f"  delivered {events:,} events ({tokens:,} of {sent - 1:,} tokens, "
        f"{sent - 1 - tokens:,} shed) in {requests:,} requests; all sent after {sending:.2f} s"
    )
    print(f"  sends: {events / sending:,.0f} events/s, {requests / sending:,.1f} requests/s")


def _counts(receiver: Connection) -> dict:
    receiver.send("counts")
    return receiver.recv()


def timer_overhead(calls: int) -> float:
    def nothing(token: str) -> None:
        pass

    return statistics.median(timed_calls(nothing, calls)) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=receive, args=(theirs,), daemon=True)
    child.start()
    port = ours.recv()
    load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load}; receiver on 127.0.0.1:{port}")
    print(f"timer alone: median {timer_overhead(args.calls):.2f} µs per call (included below)")

    os.environ.pop("CHARM_STUDIO_URL", None)
    off = sorted(timed_calls(StudioExporter().on_llm_new_token, args.calls))
    print(f"exporter off (no CHARM_STUDIO_URL): median {percentile(off, 0.5):.2f} µs")

    os.environ["CHARM_STUDIO_URL"] = f"http://127.0.0.1:{port}"
    os.environ["CHARM_STUDIO_AGENT"] = "bench"
    scenario("default buffer (10,000 events)", args.calls, None, ours)
    scenario("buffer holding every event", args.calls, args.calls + 10_000, ours)
    print(f"\nload average after: {', '.join(f'{n:.2f}' for n in os.getloadavg())}")

    ours.send("stop")
    ours.recv()
    child.join(5)


if __name__ == "__main__":
    main()
