"""The one background sender of a process: a bounded buffer and a daemon thread.

Hooks only append to the buffer under a short lock. The thread takes batches (500
events, or whatever arrived within 200 ms), encodes and gzips them, and POSTs them,
retrying with backoff. When the buffer is full it sheds streamed tokens first, then the
oldest other events, and the next batch tells Studio how many of each run it lost.

Waiting for delivery is bounded: a run waits at most 1 s in all when it ends, and the
process at most 1 s at exit; once Studio has not answered for a whole second, later
waits return at once until it answers again. A refused connection ends a wait early.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from charm_studio import transport
from charm_studio._version import __version__
from charm_studio.config import Target, buffer_size_from_env
from charm_studio.payload import TimestampFormatter, encode_event
from charm_studio.state import RunState

logger = logging.getLogger("charm_studio")

TOKEN = "llm_new_token"  # noqa: S105 (an event type, not a secret)
BATCH_EVENTS = 500
BATCH_BYTES = 512 * 1024
LINGER_SECONDS = 0.2
PATIENCE_SECONDS = 1.0
EXIT_FLUSH_SECONDS = 1.0
USER_AGENT = f"charm-studio-exporter/{__version__}"
DROP_MESSAGE = (
    "charm-studio-exporter dropped {dropped} events ({tokens} tokens) "
    "while Studio was unreachable or slow"
)

# A buffered event: (arrival number, run, seq, ts in µs since 1970, type, data).
Event = tuple


class Sender:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._reset()

    def _reset(self) -> None:
        self.lock = threading.Lock()
        self._work = threading.Condition(self.lock)  # the thread waits for work here
        self._settled = threading.Condition(self.lock)  # flushes wait for delivery here
        self._tokens: deque[Event] = deque()
        self._others: deque[Event] = deque()
        self._count = 0
        self._arrivals = 0
        self._unsettled = 0
        self._dropped_runs: dict[int, RunState] = {}
        self._flush_waiters = 0
        self._kick = False
        self._patience = PATIENCE_SECONDS
        self._attempts = 0
        self._last_failure: str | None = None
        self._attempt_started: float | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._connections: dict[Target, transport.Connection] = {}
        self._logged: set[Any] = set()
        self._format_ts = TimestampFormatter()

    # --- the agent's side: called with self.lock held -------------------------------

    def append_locked(self, run: RunState, kind: str, data: dict) -> None:
        """Buffer one event of `run`; the caller holds `self.lock`."""
        micros = time.time_ns() // 1000
        if micros <= run.last_us:  # strictly later than the run's previous event
            micros = run.last_us + 1
        run.last_us = micros
        seq = run.seq
        run.seq = seq + 1
        run.pending += 1
        self._unsettled += 1
        self._arrivals += 1
        event = (self._arrivals, run, seq, micros, kind, data)
        if self._count >= self.capacity and not self._shed(kind == TOKEN, event):
            return
        (self._tokens if kind == TOKEN else self._others).append(event)
        self._count += 1
        if self._count == 1 or self._count == BATCH_EVENTS:
            self._work.notify()
        if self._thread is None:
            self._start()

    def _shed(self, incoming_is_token: bool, incoming: Event) -> bool:
        """Make room: drop the oldest token, else the incoming token, else the oldest
        other event. False when the incoming event itself was dropped."""
        if self._tokens:
            victim, keep = self._tokens.popleft(), True
        elif incoming_is_token:
            victim, keep = incoming, False
        else:
            victim, keep = self._others.popleft(), True
        if keep:
            self._count -= 1
        run = victim[1]
        run.dropped += 1
        if victim[4] == TOKEN:
            run.dropped_tokens += 1
        self._dropped_runs[id(run)] = run
        self._settle_locked(run, 1)
        return keep

    def _start(self) -> None:
        if self._closed:
            return
        self._thread = threading.Thread(target=self._loop, name="charm-studio-sender", daemon=True)
        self._thread.start()

    # --- waiting for delivery -------------------------------------------------------

    def wait_for_run(self, run: RunState, budget: float) -> float:
        """Wait until the run's events are sent, at most `budget` s; the seconds waited."""
        return self._wait(lambda: run.pending == 0, budget)

    def wait_for_all(self, budget: float, *, patient: bool = True) -> bool:
        """Wait until every buffered event is sent, at most `budget` s; True if all were."""
        self._wait(lambda: self._unsettled == 0, budget, patient=patient)
        return self._unsettled == 0

    def _wait(self, done: Callable[[], bool], budget: float, *, patient: bool = True) -> float:
        """Wait for `done`, for `budget` s at most, and less while Studio is not answering
        (`patient`: the run-end and exit waits); the seconds waited."""
        with self.lock:
            if done() or self._thread is None:
                return 0.0
            start = time.monotonic()
            if patient:
                budget = min(budget, self._patience)
            deadline = start + max(0.0, budget)
            attempts_before = self._attempts
            self._flush_waiters += 1
            self._kick = True
            self._work.notify()
            try:
                while not done():
                    if self._attempts > attempts_before and self._last_failure == "refused":
                        break  # nothing listens there: waiting would not help
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._settled.wait(remaining)
            finally:
                self._flush_waiters -= 1
            waited = time.monotonic() - start
            if not done() and (self._last_failure or self._attempt_started is not None):
                self._patience = max(0.0, self._patience - waited)
            return waited

    def _settle_locked(self, run: RunState, count: int) -> None:
        run.pending -= count
        self._unsettled -= count
        if run.pending == 0 or self._unsettled == 0:
            self._settled.notify_all()

    # --- the sender thread ----------------------------------------------------------

    def _loop(self) -> None:
        while True:
            try:
                batch = self._next_batch()
                if batch is None:
                    return
                self._deliver(batch)
            except Exception:  # a bug here must not end delivery for the whole process
                self._log_once("loop", logging.ERROR, "charm-studio-exporter error", exc=True)
                time.sleep(0.1)

    def _next_batch(self) -> list[Event] | None:
        with self.lock:
            while not self._count and not self._dropped_runs and not self._closed:
                self._work.wait()
            if self._closed:
                return None
            deadline = time.monotonic() + LINGER_SECONDS
            while self._count < BATCH_EVENTS and not self._flush_waiters and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._work.wait(remaining)
            batch = self._take_locked(BATCH_EVENTS)
            batch.extend(self._drop_reports_locked())
            return batch

    def _take_locked(self, limit: int) -> list[Event]:
        """Up to `limit` buffered events, in the order they arrived."""
        tokens, others = self._tokens, self._others
        batch: list[Event] = []
        while len(batch) < limit and (tokens or others):
            if tokens and (not others or tokens[0][0] < others[0][0]):
                batch.append(tokens.popleft())
            else:
                batch.append(others.popleft())
        self._count -= len(batch)
        return batch

    def _drop_reports_locked(self) -> list[Event]:
        """A warning log event for each run that lost events since the last report."""
        reports = []
        for run in self._dropped_runs.values():
            message = DROP_MESSAGE.format(dropped=run.dropped, tokens=run.dropped_tokens)
            data = {"message": message, "level": "warning", "stream": "stderr"}
            data["logger"] = "charm_studio"
            micros = max(time.time_ns() // 1000, run.last_us + 1)
            run.last_us = micros
            reports.append((0, run, run.seq, micros, "log", data))
            run.seq += 1
            run.pending += 1
            self._unsettled += 1
            run.dropped = run.dropped_tokens = 0
        self._dropped_runs.clear()
        return reports

    def _deliver(self, batch: list[Event]) -> None:
        by_target: dict[Target, list[Event]] = {}
        for event in batch:
            by_target.setdefault(event[1].target, []).append(event)
        for target, events in by_target.items():
            for chunk, lines in self._chunks(events):
                self._send(target, chunk, transport.gzip_body(lines))

    def _chunks(self, events: list[Event]) -> Iterator[tuple[list[Event], list[bytes]]]:
        chunk: list[Event] = []
        lines: list[bytes] = []
        size = 0
        for event in events:
            line = self._encode_or_drop(event)
            if line is None:
                continue
            if chunk and size + len(line) > BATCH_BYTES:
                yield chunk, lines
                chunk, lines, size = [], [], 0
            chunk.append(event)
            lines.append(line)
            size += len(line) + 1
        if chunk:
            yield chunk, lines

    def _encode_or_drop(self, event: Event) -> bytes | None:
        try:
            return self._encode(event)
        except Exception:  # cannot happen, by encode_event's design; if it does, skip it
            self._log_once("encode", logging.ERROR, "charm-studio-exporter error", exc=True)
            with self.lock:
                self._settle_locked(event[1], 1)
            return None

    def _encode(self, event: Event) -> bytes:
        _, run, seq, micros, kind, data = event
        run_id = run.run_id
        return encode_event(
            {
                "v": 1,
                "event_id": f"{run_id}-{seq}",
                "run_id": run_id,
                "seq": seq,
                "ts": self._format_ts(micros),
                "type": kind,
                "agent": run.agent_field,
                "data": data,
            }
        )

    def _send(self, target: Target, events: list[Event], body: bytes) -> None:
        """POST one chunk until Studio takes it, refuses it, or the process ends."""
        attempt = 0
        while True:
            outcome = self._attempt(target, body)
            self._log_outcome(target, outcome, len(events))
            if outcome.kind in (transport.SENT, transport.REFUSED):
                self._settle_chunk(events, delivered=outcome.kind == transport.SENT)
                return
            delay = outcome.retry_after
            if delay is None:
                delay = transport.backoff_seconds(attempt)
            attempt += 1
            if not self._sleep(delay, interruptible=outcome.retry_after is None):
                return

    def _attempt(self, target: Target, body: bytes) -> transport.Outcome:
        connection = self._connections.get(target)
        if connection is None:
            connection = self._connections[target] = transport.Connection(target, USER_AGENT)
        with self.lock:
            self._kick = False
            self._attempt_started = time.monotonic()
        outcome = connection.post(body)
        with self.lock:
            self._attempt_started = None
            self._attempts += 1
            self._last_failure = outcome.failure
            self._settled.notify_all()
        return outcome

    def _settle_chunk(self, events: list[Event], *, delivered: bool) -> None:
        with self.lock:
            if delivered:
                self._patience = PATIENCE_SECONDS
            for event in events:
                self._settle_locked(event[1], 1)
            self._settled.notify_all()

    def _sleep(self, seconds: float, *, interruptible: bool) -> bool:
        """Back off; a flush cuts it short unless Studio itself asked for the wait."""
        with self.lock:
            deadline = time.monotonic() + seconds
            while not self._closed:
                if interruptible and self._kick:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._work.wait(remaining)
            return not self._closed

    # --- logging, once per kind of trouble ------------------------------------------

    def _log_outcome(self, target: Target, outcome: transport.Outcome, events: int) -> None:
        if outcome.kind == transport.SENT:
            if outcome.rejected:
                self._log_once(
                    "rejected",
                    logging.WARNING,
                    "Charm Studio rejected %d of %d events; the first: %s",
                    len(outcome.rejected),
                    events,
                    outcome.rejected[0],
                )
        elif outcome.kind == transport.REFUSED and outcome.status is None:
            self._log_once(
                ("unsendable", outcome.detail),
                logging.WARNING,
                "Cannot send %d events to Charm Studio at %s (%s); not retrying",
                events,
                target.url,
                outcome.detail,
            )
        elif outcome.kind == transport.REFUSED:
            self._log_once(
                ("refused", outcome.status),
                logging.WARNING,
                "Charm Studio at %s refused %d events with HTTP %s%s: %s; not retrying",
                target.url,
                events,
                outcome.status,
                _refusal_hint(outcome.status),
                outcome.detail or "no details",
            )
        elif outcome.kind == transport.UNREACHABLE:
            self._log_once(
                ("unreachable", target),
                logging.WARNING,
                "Cannot reach Charm Studio at %s (%s); retrying in the background",
                target.url,
                outcome.detail,
            )

    def _log_once(self, key: Any, level: int, message: str, *args: Any, exc: bool = False) -> None:
        if self._closed or key in self._logged:
            return
        self._logged.add(key)
        with contextlib.suppress(Exception):
            logger.log(level, message, *args, exc_info=exc)

    # --- process lifecycle ----------------------------------------------------------

    def close(self, join_seconds: float = 0.0) -> None:
        """Stop the thread (it is a daemon: the process never waits for it)."""
        with self.lock:
            self._closed = True
            self._work.notify_all()
            self._settled.notify_all()
            thread = self._thread
        if thread is not None and join_seconds > 0:
            thread.join(join_seconds)
        for connection in list(self._connections.values()):
            connection.close()

    def after_fork_in_child(self) -> None:
        # The parent's thread does not exist here and its lock may be held: start over.
        self._reset()


def _refusal_hint(status: int | None) -> str:
    if status in (401, 403):
        return " (check CHARM_STUDIO_API_KEY)"
    if status == 404:
        return " (check CHARM_STUDIO_URL)"
    return ""


_sender: Sender | None = None
_sender_lock = threading.Lock()


def get_sender() -> Sender:
    """The process's sender, made on first use."""
    sender = _sender
    if sender is None:
        sender = _make_sender()
    return sender


def _make_sender() -> Sender:
    global _sender
    with _sender_lock:
        if _sender is None:
            _sender = Sender(buffer_size_from_env())
        return _sender


def flush(timeout: float = EXIT_FLUSH_SECONDS) -> bool:
    """Wait up to `timeout` s for every buffered event to be sent; True if all were.

    Returns early, False, when Studio refuses connections (nothing listens at the URL).
    """
    sender = _sender
    if sender is None:
        return True
    return sender.wait_for_all(timeout, patient=False)


def _flush_at_exit() -> None:
    sender = _sender
    if sender is None:
        return
    try:
        sender.wait_for_all(EXIT_FLUSH_SECONDS)
    finally:
        sender.close()


def _discard_sender() -> None:
    """Forget the process's sender (for tests: each gets its own)."""
    global _sender
    with _sender_lock:
        sender, _sender = _sender, None
    if sender is not None:
        sender.close(join_seconds=1.0)


def _after_fork_in_child() -> None:
    global _sender_lock
    _sender_lock = threading.Lock()
    if _sender is not None:
        _sender.after_fork_in_child()


atexit.register(_flush_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
