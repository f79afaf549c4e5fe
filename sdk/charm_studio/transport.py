"""One POST of a gzip NDJSON batch to Studio, and what to do about its answer.

Standard library only (http.client). Every socket call has a timeout. The connection is
kept open between batches and dropped after any error.
"""

from __future__ import annotations

import contextlib
import email.utils
import gzip
import http.client
import json
import random
import socket
import ssl
import time
from dataclasses import dataclass

from charm_studio.config import Target

TIMEOUT_SECONDS = 2.0
RETRY_AFTER_CAP_SECONDS = 30.0
BACKOFF_BASE_SECONDS = 0.25
BACKOFF_CAP_SECONDS = 30.0
_MAX_ANSWER_BYTES = 1024 * 1024
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_STALE_CONNECTION = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
)

# Outcome kinds
SENT = "sent"  # Studio answered 2xx: the batch is durable
RETRY = "retry"  # Studio busy or failing: send the same batch again later
REFUSED = "refused"  # Studio will never take this batch (4xx): drop it
UNREACHABLE = "unreachable"  # no answer at all: refused, reset, DNS, timeout


@dataclass(frozen=True)
class Outcome:
    kind: str
    status: int | None = None
    retry_after: float | None = None
    detail: str = ""
    rejected: tuple[str, ...] = ()
    failure: str | None = None  # for UNREACHABLE: "refused", "timeout" or "error"


def gzip_body(lines: list[bytes]) -> bytes:
    return gzip.compress(b"\n".join(lines) + b"\n", compresslevel=6)


def backoff_seconds(attempt: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base·2^attempt)]."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (2 ** min(attempt, 16)))
    return (rng or random).uniform(0.0, ceiling)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, min(RETRY_AFTER_CAP_SECONDS, seconds))


class Connection:
    """A kept-open HTTP(S) connection to one Studio, used by the sender thread only."""

    def __init__(self, target: Target, user_agent: str) -> None:
        self.target = target
        self._user_agent = user_agent
        self._conn: http.client.HTTPConnection | None = None

    def post(self, body: bytes) -> Outcome:
        """Send one gzip NDJSON body; never raises."""
        reused = self._conn is not None
        try:
            return self._post(body)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            if not (reused and isinstance(exc, _STALE_CONNECTION)):
                return _unreachable(exc)
        except Exception as exc:  # e.g. an API key that is not a valid header value
            self.close()
            return _unsendable(exc)
        # The server closed the kept-open connection while it was idle: once more, anew.
        try:
            return self._post(body)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return _unreachable(exc)
        except Exception as exc:
            self.close()
            return _unsendable(exc)

    def _post(self, body: bytes) -> Outcome:
        conn = self._connection()
        conn.request("POST", self.target.path, body=body, headers=self._headers())
        response = conn.getresponse()
        answer = response.read(_MAX_ANSWER_BYTES + 1)
        if len(answer) > _MAX_ANSWER_BYTES or response.will_close:
            self.close()
        return outcome_of(response.status, response.getheader("Retry-After"), answer)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            target = self.target
            host = target.host.strip("[]")
            if target.scheme == "https":
                context = ssl.create_default_context()
                self._conn = http.client.HTTPSConnection(
                    host, target.port, timeout=TIMEOUT_SECONDS, context=context
                )
            else:
                self._conn = http.client.HTTPConnection(host, target.port, timeout=TIMEOUT_SECONDS)
            self._conn.connect()
            # Headers and body go in separate writes: without this, Nagle's algorithm and
            # the server's delayed ACK add up to 40 ms to every request.
            self._conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self._conn

    def _headers(self) -> dict[str, str]:
        headers = {
            "Content-Type": "application/x-ndjson",
            "Content-Encoding": "gzip",
            "User-Agent": self._user_agent,
        }
        if self.target.api_key:
            headers["Authorization"] = f"Bearer {self.target.api_key}"
        return headers


def _unsendable(exc: BaseException) -> Outcome:
    # Only the type: the message could quote a header, and so the API key.
    return Outcome(REFUSED, detail=f"{type(exc).__name__} while building the request")


def _unreachable(exc: BaseException) -> Outcome:
    if isinstance(exc, (ConnectionRefusedError, socket.gaierror)):
        failure = "refused"  # nothing listens there, or no such host
    elif isinstance(exc, socket.timeout):
        failure = "timeout"
    else:
        failure = "error"
    return Outcome(UNREACHABLE, detail=f"{type(exc).__name__}: {exc}", failure=failure)


def outcome_of(status: int, retry_after: str | None, answer: bytes) -> Outcome:
    """What Studio's answer means for the batch: sent, retry later, or refused for good."""
    detail = answer[:500].decode("utf-8", "replace").strip()
    if 200 <= status < 300:
        return Outcome(SENT, status, rejected=_rejections(answer))
    if status in _RETRY_STATUSES:
        return Outcome(RETRY, status, parse_retry_after(retry_after), detail)
    return Outcome(REFUSED, status, detail=detail)


def _rejections(answer: bytes) -> tuple[str, ...]:
    """The `rejected` list of a 202 as `"index 3: reason"` strings."""
    try:
        rejected = json.loads(answer).get("rejected") or []
        return tuple(f"index {r.get('index')}: {r.get('error')}" for r in rejected)
    except Exception:
        return ()
