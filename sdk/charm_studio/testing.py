"""A stand-in for Charm Studio's ingest endpoint, to test an agent's telemetry.

    with FakeStudio() as studio:
        os.environ["CHARM_STUDIO_URL"] = studio.url
        ...  # run the agent
        assert studio.wait_for(lambda events: any(e["type"] == "run_end" for e in events))

It listens on 127.0.0.1, takes `POST /api/v1/ingest` (gzip NDJSON) and keeps every
event it accepted. It can be told to answer some requests with an error status (429
and 503 with `Retry-After`), to hang, or to stop listening.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    """One request as received, with the answer given."""

    received_at: float  # time.monotonic()
    headers: dict[str, str]
    body: bytes  # as sent (gzip)
    events: list[dict]
    status: int


@dataclass
class _Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)


class FakeStudio:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._answers: list[_Answer] = []
        self._lock = threading.Condition()
        self._hanging = threading.Event()
        self._released = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    # --- what was received ----------------------------------------------------------

    @property
    def events(self) -> list[dict]:
        """Every event of the requests answered 2xx, in the order received."""
        with self._lock:
            return [e for r in self.requests if 200 <= r.status < 300 for e in r.events]

    def wait_for(self, condition: Callable[[list[dict]], bool], timeout: float = 5.0) -> bool:
        """Wait until `condition(events)` holds; False after `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                if condition(self.events):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)

    # --- how it behaves -------------------------------------------------------------

    def answer_next(self, status: int, retry_after: str | None = None, times: int = 1) -> None:
        """Answer the next `times` requests with `status` (and a `Retry-After`)."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        with self._lock:
            self._answers.extend(_Answer(status, headers) for _ in range(times))

    def hang(self) -> None:
        """Read requests but answer none of them until `release()`."""
        self._released.clear()
        self._hanging.set()

    def release(self) -> None:
        self._hanging.clear()
        self._released.set()

    def close(self) -> None:
        """Stop listening: later connections are refused."""
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeStudio:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # --- the request handler's side -------------------------------------------------

    def _receive(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        if self._hanging.is_set():
            self._released.wait(30)
        text = body
        if headers.get("Content-Encoding", "").lower() == "gzip":
            text = gzip.decompress(body)
        events = [json.loads(line) for line in text.splitlines() if line.strip()]
        with self._lock:
            answer = self._answers.pop(0) if self._answers else _Answer(202)
            request = Request(time.monotonic(), headers, body, events, answer.status)
            self.requests.append(request)
            self._lock.notify_all()
        if 200 <= answer.status < 300:
            reply = {"accepted": len(events), "rejected": []}
        else:
            reply = {"error": f"answered {answer.status} by FakeStudio"}
        return answer.status, answer.headers, json.dumps(reply).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a hanging request is not an error of the stand-in.
        pass


def _handler(studio: FakeStudio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers, reply = studio._receive(dict(self.headers.items()), body)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
