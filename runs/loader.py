"""Feeding a stream of lines through the ingest pipeline, in batches (the `ingest` and
`demo` commands): the same parsing, inbox and workers as the HTTP API."""

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.db import transaction

from runs.ingest import batch_store
from runs.models import IngestBatch
from runs.protocol import BodyError, Rejection, parse_body
from studio.models import Project

BATCH_LINES = 2000


@dataclass
class LoadReport:
    lines: int = 0
    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    batch_ids: list[int] = field(default_factory=list)


def load_lines(
    *,
    project: Project,
    lines: Iterable[str],
    run_id: str | None = None,
    source: str = "cli",
    on_progress: Callable[[int, int], None] | None = None,
) -> LoadReport:
    """Store `lines` as batches of BATCH_LINES; rejected lines keep their line number.

    With `run_id`, lines are a raw stdout stream: non-event lines become log events.
    """
    report = LoadReport()
    content_type = "text/plain" if run_id else "application/x-ndjson"
    for chunk in _chunks(lines, BATCH_LINES):
        body = "".join(line if line.endswith("\n") else line + "\n" for line in chunk).encode()
        try:
            parsed = parse_body(body, content_type=content_type, run_id=run_id)
            events, rejected = parsed.events, parsed.rejected
        except BodyError as error:  # no line of this chunk was JSON
            events, rejected = (
                [],
                [Rejection(index=i, error=error.message) for i in range(len(chunk))],
            )
        with transaction.atomic():
            batch = batch_store(project=project, events=events, rejected=rejected, source=source)
        offset = report.lines
        report.rejected.extend(Rejection(index=r.index + offset, error=r.error) for r in rejected)
        report.lines += len(chunk)
        report.accepted += len(events)
        report.batch_ids.append(batch.pk)
        if on_progress:
            on_progress(len(chunk), len(events))
    return report


def _chunks(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


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
