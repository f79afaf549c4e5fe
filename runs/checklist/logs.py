"""Check 3, logs: does the log show an error before the failure, and where to read it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from runs.checklist.base import Check, Link, one_line

ERROR_LEVELS = ("error", "critical")


@dataclass(frozen=True, slots=True)
class LogLine:
    number: int  # 1-based, in the run's log order (ts, seq, event_id)
    ts: datetime
    level: str
    message: str
    logger: str = ""
    stream: str = ""

    @property
    def is_error(self) -> bool:
        return self.level in ERROR_LEVELS


@dataclass(frozen=True)
class LogWindow:
    """The log lines around a failure: the last few at or before it, the first few after."""

    total: int
    failure_at: datetime | None
    lines: tuple[LogLine, ...] = ()
    first_error: LogLine | None = None  # the first error/critical line at or before it
    last_before: int = 0  # the number of the last line at or before the failure


def check_logs(*, window: LogWindow) -> Check:
    """Do the logs show an error before the failure; where to read them."""
    title = "Logs"
    if window.total == 0:
        return Check(
            "logs",
            title,
            "skip",
            "No log lines were received for this run.",
            hint="Send `log` events, or pipe the process's stdout to the ingest API.",
        )
    if window.first_error is not None:
        line = window.first_error
        where = f"{line.logger}: " if line.logger else ""
        return Check(
            "logs",
            title,
            "fail",
            f"Line {line.number} is the first {line.level} line before the failure: "
            f"{where}{one_line(line.message)}",
            link=Link(f"Log line {line.number}", "detail", tab="logs", line=line.number),
        )
    target = window.last_before or 1
    plural = "s" if window.total != 1 else ""
    return Check(
        "logs",
        title,
        "pass",
        f"{window.total} log line{plural}, none at error or critical level before the failure.",
        link=Link("Logs at the failure", "detail", tab="logs", line=target),
    )
