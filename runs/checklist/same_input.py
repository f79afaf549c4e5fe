"""Check 1, same input locally: has this input been run locally, how did that end,
and where do the two runs diverge."""

from __future__ import annotations

from collections.abc import Sequence

from runs.checklist.base import Check, Link, RunBrief
from runs.compare import code


def local_reference(local_runs: Sequence[RunBrief]) -> RunBrief | None:
    """The local run to compare with: the latest that succeeded, else the latest that
    finished (``local_runs`` is latest first)."""
    succeeded = [r for r in local_runs if r.status == "succeeded"]
    if succeeded:
        return succeeded[0]
    finished = [r for r in local_runs if r.status not in ("running", "queued", "validating")]
    return finished[0] if finished else None


def check_same_input_locally(
    *,
    environment: str,
    has_inputs: bool,
    local_runs: Sequence[RunBrief],
    reference: RunBrief | None,
    divergence: str = "",
) -> Check:
    """Has this input been run locally, how did that end, and where do the runs diverge.

    ``local_runs``: local runs of the project with the same input fingerprint, latest
    first; ``reference`` the one compared (``local_reference``); ``divergence`` the
    one-line alignment of the two timelines."""
    title = "Same input locally"
    if environment == "local":
        return Check("local", title, "skip", "This run ran locally itself.")
    if not has_inputs:
        return Check(
            "local",
            title,
            "skip",
            "The run's inputs were never reported (no run_start event), so runs with the "
            "same input cannot be found.",
        )
    if not local_runs:
        return Check(
            "local",
            title,
            "fail",
            "Never run locally with this input.",
            hint="Run it locally with the same input: `charm run --local`",
        )
    notes = (divergence,) if divergence else ()
    if reference is None:
        return Check(
            "local",
            title,
            "skip",
            f"A local run with this input has not finished yet ({code(local_runs[0].run_id)}).",
        )
    link = Link(f"Compare with {reference.run_id}", "compare", other_run_id=reference.run_id)
    if reference.status == "succeeded":
        return Check(
            "local",
            title,
            "pass",
            f"It succeeded locally with the same input ({code(reference.run_id)}), so the "
            "difference is environmental.",
            link=link,
            notes=notes,
        )
    ended = reference.status + (f" with {reference.error_type}" if reference.error_type else "")
    count = len(local_runs)
    which = f"none of the {count} local runs" if count > 1 else "the local run"
    return Check(
        "local",
        title,
        "fail",
        f"It fails locally too: {which} with this input succeeded; the latest ended {ended} "
        f"({code(reference.run_id)}).",
        link=link,
        hint="Reproduce and debug it locally: `charm run --local`",
        notes=notes,
    )
