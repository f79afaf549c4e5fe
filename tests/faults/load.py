"""A real client load for fault tests: threads posting NDJSON bodies over HTTP, each
answer kept, so a test can tell what Studio acknowledged from what it turned away."""

import threading
import time
from dataclasses import dataclass, field
from http.client import HTTPConnection

from bench.ingest_e2e import mixed_events, ndjson_batches


@dataclass
class Request:
    """One body and every answer it got, in order (status 0: no answer at all)."""

    events: list[dict]
    body: bytes
    answers: list[tuple[int, str | None]] = field(default_factory=list)  # status, Retry-After

    @property
    def acknowledged(self) -> bool:
        return any(status == 202 for status, _ in self.answers)


def requests_of(events: list[dict], size: int) -> list[Request]:
    """The events as bodies of `size` events, as an exporter sends them."""
    bodies = ndjson_batches(events, size)
    return [Request(events[i * size : (i + 1) * size], body) for i, body in enumerate(bodies)]


def fleet_events(runs: int, prefix: str) -> list[dict]:
    """The mixed workload (tool spans, streamed tokens, usage, logs, per run) under run and
    event ids of this test's own."""
    return [
        {**e, "run_id": f"{prefix}{e['run_id']}", "event_id": f"{prefix}{e['event_id']}"}
        for e in mixed_events(runs)
    ]


class Load:
    """`clients` threads sending the requests in turn, `pace` seconds apart per client.

    With `retry`, a request answered 503 or 429 (or not answered) is sent again after
    its Retry-After (capped, to keep tests short) until a 202 or `deadline` seconds;
    without, each request is sent once, as a client that gives up."""

    def __init__(self, port: int, key: str, requests: list[Request], *, clients: int = 4,
                 pace: float = 0.0, retry: bool = True, deadline: float = 60) -> None:  # fmt: skip
        self.port, self.key, self.requests = port, key, requests
        self.clients, self.pace, self.retry, self.deadline = clients, pace, retry, deadline
        self._next = iter(requests)
        self._take = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> "Load":
        self._ends = time.monotonic() + self.deadline
        self._threads = [threading.Thread(target=self._client) for _ in range(self.clients)]
        for thread in self._threads:
            thread.start()
        return self

    def join(self) -> "Load":
        for thread in self._threads:
            thread.join()
        return self

    def run(self) -> "Load":
        return self.start().join()

    def _client(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/x-ndjson"}
        conn = HTTPConnection("127.0.0.1", self.port, timeout=30)
        while True:
            with self._take:
                request = next(self._next, None)
            if request is None:
                break
            while True:
                try:
                    conn.request("POST", "/api/v1/ingest", body=request.body, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    answer = (response.status, response.getheader("Retry-After"))
                except OSError:
                    conn.close()
                    conn = HTTPConnection("127.0.0.1", self.port, timeout=30)
                    answer = (0, None)
                request.answers.append(answer)
                status, retry_after = answer
                if status == 202 or not self.retry or time.monotonic() > self._ends:
                    break
                if status not in (0, 429, 503):
                    break
                time.sleep(min(1.0, float(retry_after or 0.2)))
            time.sleep(self.pace)
        conn.close()

    # What it got ------------------------------------------------------------------

    def acknowledged(self) -> list[dict]:
        return [e for r in self.requests if r.acknowledged for e in r.events]

    def statuses(self) -> set[int]:
        return {status for r in self.requests for status, _ in r.answers}

    def answers(self) -> list[tuple[int, str | None]]:
        return [answer for r in self.requests for answer in r.answers]
