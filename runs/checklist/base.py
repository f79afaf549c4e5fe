"""What every check is made of: the result (``Check``), where its evidence is
(``Link``), and another run as the checks see it (``RunBrief``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from runs.compare import code_parts
from runs.models import Run

CheckState = Literal["pass", "fail", "skip"]


@dataclass(frozen=True, slots=True)
class Link:
    """Where a check's evidence is: a page of this run ("detail") or a comparison."""

    text: str
    page: Literal["detail", "compare"]
    other_run_id: str = ""  # compare: the run to compare with
    tab: str = ""  # detail: the tab to open
    line: int | None = None  # detail, logs tab: the log line number
    item: str = ""  # detail, timeline tab: the item to select ("status:<event id>")


@dataclass(frozen=True)
class Check:
    key: str
    title: str
    state: CheckState
    evidence: str  # one line; names in `backticks` render as code
    link: Link | None = None
    hint: str = ""  # the next thing to try, when there is one
    notes: tuple[str, ...] = ()  # further lines of evidence

    @property
    def evidence_parts(self) -> list[tuple[str, bool]]:
        return code_parts(self.evidence)

    @property
    def hint_parts(self) -> list[tuple[str, bool]]:
        return code_parts(self.hint)

    @property
    def note_parts(self) -> list[list[tuple[str, bool]]]:
        return [code_parts(note) for note in self.notes]


@dataclass(frozen=True, slots=True)
class RunBrief:
    """Another run, as the checks see it."""

    run_id: str
    environment: str
    status: str
    started_at: datetime
    error_type: str = ""
    runtime: dict = field(default_factory=dict)

    @classmethod
    def of(cls, run: Run) -> RunBrief:
        return cls(
            run_id=run.run_id,
            environment=run.environment,
            status=run.status,
            started_at=run.started_at,
            error_type=run.error_type,
            runtime=run.runtime if isinstance(run.runtime, dict) else {},
        )


def one_line(text: str, limit: int = 200) -> str:
    """The first non-blank line of ``text``, cut to ``limit`` characters."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"
