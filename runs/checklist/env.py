"""Check 4, environment variables and OAuth connections: the names the run's config
declares against what its errors say is missing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from runs.checklist.base import Check, Link, one_line
from runs.compare import code
from runs.fingerprint import missing_names


@dataclass(frozen=True, slots=True)
class ErrorText:
    """An error the run reported: its crash, or a tool's error."""

    source: str  # "the run's error", "tool `charge`"
    type: str
    message: str
    traceback: str = ""
    item: str = ""  # the timeline item that shows it: "error:<event id>", "tool:<span key>"


def declared_names(config: object, key: str) -> list[str]:
    """The names a run's config declares under ``key`` (required_env or oauth)."""
    names = config.get(key) if isinstance(config, dict) else None
    if not isinstance(names, list):
        return []
    return [str(name) for name in names if isinstance(name, str) and name]


def check_env_and_oauth(*, environment: str, config: object, errors: Sequence[ErrorText]) -> Check:
    """Names declared in ``config.required_env`` / ``config.oauth`` against what the
    errors say is missing (``runs.fingerprint.missing_names``)."""
    title = "Environment variables and OAuth connections"
    env, oauth = declared_names(config, "required_env"), declared_names(config, "oauth")
    missing: dict[str, ErrorText] = {}
    for error in errors:
        for name in sorted(missing_names(error.message, error.traceback or None)):
            missing.setdefault(name, error)
    if missing:
        findings = [_missing_finding(name, env, oauth, environment) for name in missing]
        sources = [
            f"{code(name)}: said by {error.source} {code(_error_title(error))}"
            for name, error in missing.items()
        ]
        first = next(iter(missing.values()))
        return Check(
            "env", title, "fail", "; ".join(findings), link=_error_link(first), notes=tuple(sources)
        )
    declared = _declared_summary(env, oauth)
    if not errors:
        evidence = "The run reported no error to check the declared names against."
        if declared:
            evidence += f" Declared: {declared}."
        return Check("env", title, "skip", evidence)
    if not declared:
        return Check(
            "env",
            title,
            "skip",
            "No environment variables or OAuth connections are declared in config, and the "
            "error names none as missing.",
        )
    return Check(
        "env",
        title,
        "pass",
        f"The error names no missing variable or connection. Declared: {declared}.",
        link=_error_link(errors[0]),
    )


def _error_link(error: ErrorText) -> Link | None:
    return Link("The error", "detail", item=error.item) if error.item else None


def _missing_finding(name: str, env: list[str], oauth: list[str], environment: str) -> str:
    where = f"the {environment} environment"
    declared_env = next((n for n in env if n.upper() == name.upper()), None)
    if declared_env:
        return (
            f"{code(declared_env)} is declared in config.required_env and the error says it is "
            f"missing — set it in {where}"
        )
    declared_oauth = next((n for n in oauth if n.lower() == name.lower()), None)
    if declared_oauth:
        return (
            f"OAuth connection {code(declared_oauth)} is declared in config.oauth and the error "
            f"says it is missing — connect it in {where}"
        )
    return (
        f"{code(name)} is missing and not declared in charm.yaml (neither required_env nor "
        f"oauth) — declare it and set it in {where}"
    )


def _declared_summary(env: list[str], oauth: list[str]) -> str:
    parts = []
    if env:
        parts.append(f"{len(env)} env var{'s' if len(env) != 1 else ''} ({', '.join(env)})")
    if oauth:
        plural = "s" if len(oauth) != 1 else ""
        parts.append(f"{len(oauth)} OAuth connection{plural} ({', '.join(oauth)})")
    return " and ".join(parts)


def _error_title(error: ErrorText) -> str:
    message = one_line(error.message, 120)
    return f"{error.type}: {message}" if message else error.type
