"""The debug checklist: DESIGN.md section 5's production-debugging guide, made automatic.

When a cloud run fails: confirm the same input works locally; run ``charm validate``;
check the logs; confirm the required environment variables and OAuth connections;
test in Docker if the problem looks runtime-specific. Each of the five checks is a
pure function of plain values that returns a ``Check``: pass (✓, found OK), fail
(✗, found a problem) or skip (–, not applicable or no data), one line of evidence,
and where that evidence is. ``run_checklist`` reads what they need in at most eight
queries, however long the run.

One module per check (``same_input``, ``validation``, ``logs``, ``env``, ``runtime``),
what they share in ``base``, and the reads in ``selector``.
"""

from runs.checklist.base import Check, CheckState, Link, RunBrief
from runs.checklist.env import ErrorText, check_env_and_oauth, declared_names
from runs.checklist.logs import ERROR_LEVELS, LogLine, LogWindow, check_logs
from runs.checklist.runtime import check_runtime
from runs.checklist.same_input import check_same_input_locally, local_reference
from runs.checklist.selector import (
    FAILED_STATUSES,
    LOCAL_RUNS_SHOWN,
    LOG_LINES_AFTER,
    LOG_LINES_BEFORE,
    Checklist,
    run_checklist,
)
from runs.checklist.validation import StatusEvent, check_validation

__all__ = [
    "ERROR_LEVELS",
    "FAILED_STATUSES",
    "LOCAL_RUNS_SHOWN",
    "LOG_LINES_AFTER",
    "LOG_LINES_BEFORE",
    "Check",
    "CheckState",
    "Checklist",
    "ErrorText",
    "Link",
    "LogLine",
    "LogWindow",
    "RunBrief",
    "StatusEvent",
    "check_env_and_oauth",
    "check_logs",
    "check_runtime",
    "check_same_input_locally",
    "check_validation",
    "declared_names",
    "local_reference",
    "run_checklist",
]
