"""Feeding a stream of lines through the ingest pipeline, in batches (the `ingest` and
`demo` commands): the same parsing, inbox and workers as the HTTP API.

With a run id the lines are that run's Charm stream (stdout or a container log): each
batch carries its starting line, the stream is parsed as one (an LLM call or a tool
call split over two batches stays one), and the end of input ends the stream. Read
from a pipe, a batch goes as soon as its first line is `FLUSH_SECONDS` old, so a
running `charm run ... | manage.py ingest -` shows live.
"""

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.db import transaction

from runs.ingest.inbox import batch_store
from runs.models import IngestBatch
from runs.protocol import BodyError, Rejection, parse_body
from runs.protocol.charm import Carry
from studio.models import Project

BATCH_LINES = 2000
FLUSH_SECONDS = 0.25
_EOF = object()


@dataclass
class LoadReport:
    lines: int = 0
    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    noted: list[Rejection] = field(default_factory=list)
    batch_ids: list[int] = field(default_factory=list)


def load_lines(
    *,
    project: Project,
    lines: Iterable[str],
    run_id: str | None = None,
    agent: str | None = None,
    environment: str | None = None,
    source: str = "cli",
    live: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> LoadReport:
    """Store `lines` as batches; rejected lines keep their line number in the input.

    With `run_id`, `lines` are that run's Charm stream, ended when the input ends.
    `live` sends a batch once its oldest line waited `FLUSH_SECONDS` (for pipes).
    """
    report = LoadReport()
    content_type = "text/plain" if run_id else "application/x-ndjson"
    carry = Carry() if run_id else None
    chunks = _timed_chunks(lines, BATCH_LINES, FLUSH_SECONDS) if live else _chunks(lines)
    if run_id:  # the end of input ends the stream: one last, empty piece says so
        chunks = _then_end(chunks)
    for chunk, last in chunks:
        body = "".join(line if line.endswith("\n") else line + "\n" for line in chunk).encode()
        stream = {}
        if run_id:
            stream = {
                "stream_offset": report.lines,
                "stream_ended": last,
                "agent": agent,
                "environment": environment,
                "carry": carry,
            }
        try:
            parsed = parse_body(body, content_type=content_type, run_id=run_id, **stream)
            events, rejected, noted = parsed.events, parsed.rejected, parsed.noted
        except BodyError as error:  # no line of this chunk was JSON
            events, noted = [], []
            rejected = [Rejection(index=i, error=error.message) for i in range(len(chunk))]
        with transaction.atomic():
            batches = batch_store(
                project=project, events=events, rejected=rejected, noted=noted, source=source
            )
        offset = report.lines
        report.rejected.extend(Rejection(r.index + offset, r.error) for r in rejected)
        report.noted.extend(Rejection(r.index + offset, r.error) for r in noted)
        report.lines += len(chunk)
        report.accepted += len(events)
        report.batch_ids += [batch.pk for batch in batches]
        if on_progress:
            on_progress(len(chunk), len(events))
    return report


def _then_end(chunks: Iterator[list[str]]) -> Iterator[tuple[list[str], bool]]:
    for chunk, _ in chunks:
        yield chunk, False
    yield [], True


def _chunks(lines: Iterable[str], size: int = BATCH_LINES) -> Iterator[tuple[list[str], bool]]:
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= size:
            yield chunk, False
            chunk = []
    if chunk:
        yield chunk, False


def _timed_chunks(
    lines: Iterable[str], size: int, seconds: float
) -> Iterator[tuple[list[str], bool]]:
    """Chunks of at most `size` lines, each sent once its first line is `seconds` old.

    A thread reads the input, so a quiet pipe never holds back what already came."""
    arrived: queue.Queue = queue.Queue(maxsize=size * 4)

    def read() -> None:
        try:
            for line in lines:
                arrived.put(line)
        finally:
            arrived.put(_EOF)

    threading.Thread(target=read, daemon=True, name="ingest-reader").start()
    chunk: list[str] = []
    deadline = None
    while True:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            line = arrived.get(timeout=timeout)
        except queue.Empty:
            yield chunk, False
            chunk, deadline = [], None
            continue
        if line is _EOF:
            if chunk:
                yield chunk, False
            return
        chunk.append(line)
        if deadline is None:
            deadline = time.monotonic() + seconds
        if len(chunk) >= size:
            yield chunk, False
            chunk, deadline = [], None


def wait_applied(
    batch_ids: list[int], *, timeout: float, on_progress: Callable[[int], None] | None = None
) -> tuple[int, int]:
    """Wait for workers to apply the batches; returns (applied, still pending or failed)."""
    deadline = time.monotonic() + timeout
    done = 0
    while True:
        states = IngestBatch.objects.filter(pk__in=batch_ids).values_list("status", flat=True)
        applied = sum(s == IngestBatch.Status.APPLIED for s in states)
        if on_progress and applied > done:
            on_progress(applied - done)
            done = applied
        if applied == len(batch_ids) or time.monotonic() > deadline:
            return applied, len(batch_ids) - applied
        time.sleep(0.2)
