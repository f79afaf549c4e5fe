"""Check 5, runtime: image, python, sdk_version and region against a run that worked."""

from __future__ import annotations

from runs.checklist.base import Check, Link, RunBrief
from runs.compare import RUNTIME_KEYS, code
from runs.ingest.runstate import OOM_EXIT_CODE


def check_runtime(
    *,
    runtime: object,
    reference: RunBrief | None,
    agent_name: str = "",
    exit_code: int | None = None,
) -> Check:
    """Runtime values (image, python, sdk_version, region) against a run that worked.

    ``reference`` is the local run of check 1, else the latest succeeded cloud run of the
    same agent. Only keys both runs reported are compared; a key one run left out is
    named, never counted as a difference."""
    title = "Runtime"
    if exit_code == OOM_EXIT_CODE:
        return Check(
            "runtime",
            title,
            "fail",
            "The process was killed with exit code 137: likely out of memory.",
            hint="Raise the container's memory limit or lower the agent's memory use; "
            "`charm run --docker` tries it under a container's limits.",
        )
    if exit_code:
        return Check(
            "runtime",
            title,
            "fail",
            f"The process exited with code {exit_code}.",
            hint="Run the same input locally and with `charm run --docker` to see it exit.",
        )
    if reference is None:
        who = f" of {code(agent_name)}" if agent_name else ""
        return Check(
            "runtime",
            title,
            "skip",
            f"Nothing to compare with: no local run with this input and no succeeded cloud "
            f"run{who}.",
        )
    mine = runtime if isinstance(runtime, dict) else {}
    theirs = reference.runtime
    local = reference.environment == "local"
    there = "locally" if local else f"in {code(reference.run_id)}"
    compared, differences, one_sided = [], [], []
    for key in RUNTIME_KEYS:
        a, b = _value(mine.get(key)), _value(theirs.get(key))
        if a is None and b is None:
            continue
        if a is None or b is None:
            missing_side = "here" if a is None else there
            one_sided.append(f"{key} (not reported {missing_side})")
        elif a != b:
            differences.append(f"{key} {a} here vs {b}" + (" locally" if local else ""))
        else:
            compared.append(f"{key} {a}")
    link = Link(f"Compare with {reference.run_id}", "compare", other_run_id=reference.run_id)
    notes = []
    if reference.environment != "local":
        notes.append(
            f"Compared with the latest succeeded cloud run of {code(agent_name)}, as no local "
            "run with this input finished."
        )
    if one_sided:
        notes.append(f"Not compared: {', '.join(one_sided)}.")
    if differences:
        image = _value(mine.get("image")) or _value(theirs.get("image"))
        hint = "Test in Docker with the cloud image" + (f": `{image}`" if image else ".")
        return Check(
            "runtime",
            title,
            "fail",
            ("" if local else f"Against {code(reference.run_id)}: ") + "; ".join(differences) + ".",
            link=link,
            hint=hint,
            notes=tuple(notes),
        )
    if compared:
        return Check(
            "runtime",
            title,
            "pass",
            f"Same {', '.join(compared)} here and {there}.",
            link=link,
            notes=tuple(notes),
        )
    return Check(
        "runtime",
        title,
        "skip",
        "Nothing to compare: the two runs report no runtime value in common."
        if one_sided
        else "Neither run reported its runtime (image, python, sdk_version, region).",
        link=link,
        notes=tuple(notes),
    )


def _value(value: object) -> str | None:
    if value is None or value == "":
        return None
    return str(value)
