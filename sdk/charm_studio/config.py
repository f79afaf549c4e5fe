"""Settings from the environment and the agent's identity from its charm.yaml.

Nothing here raises: a bad value is logged once and replaced by its default, or, for a
URL that cannot be used, the exporter stays off. An agent must never fail because of
its telemetry.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger("charm_studio")

ENVIRONMENTS = ("local", "cloud", "docker")
INGEST_PATH = "/api/v1/ingest"
DEFAULT_BUFFER = 10_000
_MIN_BUFFER = 10
_MAX_YAML_BYTES = 1024 * 1024
_VERSION_TAIL = re.compile(r"^(?P<name>.+)@(?P<version>\d[\w.+-]*)$")


@dataclass(frozen=True)
class Target:
    """Where events go: one Studio ingest endpoint and the key it wants."""

    scheme: str
    host: str
    port: int | None
    path: str
    api_key: str

    @property
    def url(self) -> str:
        port = f":{self.port}" if self.port else ""
        return f"{self.scheme}://{self.host}{port}{self.path}"


@dataclass(frozen=True)
class Agent:
    name: str
    version: str | None = None
    required_env: list[str] = field(default_factory=list)
    oauth: list[str] = field(default_factory=list)

    def as_event_field(self) -> dict[str, str]:
        if self.version:
            return {"name": self.name, "version": self.version}
        return {"name": self.name}


@dataclass(frozen=True)
class Settings:
    target: Target
    agent: Agent
    environment: str


def settings_from_env(environ: Any = None, cwd: str | None = None) -> Settings | None:
    """The exporter's settings, or None when `CHARM_STUDIO_URL` is unset or unusable."""
    environ = os.environ if environ is None else environ
    url = (environ.get("CHARM_STUDIO_URL") or "").strip()
    if not url:
        return None
    api_key = (environ.get("CHARM_STUDIO_API_KEY") or "").strip()
    if not _is_header_value(api_key):
        _warn_once(
            "bad-key",
            "CHARM_STUDIO_API_KEY holds characters an HTTP header cannot carry; "
            "Charm Studio exporter is off",
        )
        return None
    target = target_from_url(url, api_key)
    if target is None:
        return None
    return Settings(
        target=target,
        agent=agent_from_env(environ, cwd),
        environment=environment_from_env(environ),
    )


def target_from_url(url: str, api_key: str) -> Target | None:
    """`http://host:8000` (or the full ingest URL) as a Target; None if unusable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        _warn_once(
            "bad-url",
            "CHARM_STUDIO_URL must be an http:// or https:// URL like http://127.0.0.1:8000, "
            "got %r; Charm Studio exporter is off",
            url,
        )
        return None
    path = parts.path.rstrip("/")
    if not path.endswith(INGEST_PATH):
        path += INGEST_PATH
    host = parts.hostname
    if ":" in host:  # an IPv6 literal goes back into brackets
        host = f"[{host}]"
    return Target(parts.scheme, host, port, path, api_key)


def _is_header_value(text: str) -> bool:
    return all(" " <= char <= "~" for char in text)


def environment_from_env(environ: Any) -> str:
    value = (environ.get("CHARM_STUDIO_ENVIRONMENT") or "local").strip().lower()
    if value in ENVIRONMENTS:
        return value
    _warn_once(
        "bad-environment",
        "CHARM_STUDIO_ENVIRONMENT must be one of %s, got %r; using local",
        ", ".join(ENVIRONMENTS),
        value,
    )
    return "local"


def buffer_size_from_env(environ: Any = None) -> int:
    environ = os.environ if environ is None else environ
    value = (environ.get("CHARM_STUDIO_BUFFER") or "").strip()
    if not value:
        return DEFAULT_BUFFER
    try:
        size = int(value)
    except ValueError:
        size = 0
    if size >= _MIN_BUFFER:
        return size
    _warn_once(
        "bad-buffer",
        "CHARM_STUDIO_BUFFER must be a whole number of events, at least %d, got %r; using %d",
        _MIN_BUFFER,
        value,
        DEFAULT_BUFFER,
    )
    return DEFAULT_BUFFER


def agent_from_env(environ: Any, cwd: str | None = None) -> Agent:
    """`CHARM_STUDIO_AGENT` (`name` or `name@1.2.0`), else the persona of charm.yaml."""
    project = _read_charm_yaml(cwd)
    named = (environ.get("CHARM_STUDIO_AGENT") or "").strip()
    if named:
        match = _VERSION_TAIL.match(named)
        if match:
            return Agent(match["name"][:200], match["version"][:100])
        return Agent(named[:200], None)
    if project is not None:
        return project
    return Agent("agent", None)


def _read_charm_yaml(cwd: str | None) -> Agent | None:
    for directory in _project_dirs(cwd):
        path = os.path.join(directory, "charm.yaml")
        try:
            with open(path, encoding="utf-8", errors="replace") as file:
                text = file.read(_MAX_YAML_BYTES)
        except OSError:
            continue
        return agent_from_charm_yaml(text)
    return None


def _project_dirs(cwd: str | None) -> list[str]:
    # `charm run path/` does not chdir, but puts the project first on sys.path.
    dirs = []
    with contextlib.suppress(OSError):
        dirs.append(cwd or os.getcwd())
    if sys.path and sys.path[0] and os.path.isabs(sys.path[0]):
        dirs.append(sys.path[0])
    return dirs


def agent_from_charm_yaml(text: str) -> Agent | None:
    """The persona name and version (and declared env and OAuth names) of a charm.yaml."""
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return _agent_from_lines(text)
    try:
        document = yaml.safe_load(text)
    except Exception:
        return _agent_from_lines(text)
    return _agent_from_document(document)


def _agent_from_document(document: Any) -> Agent | None:
    persona = document.get("persona") if isinstance(document, dict) else None
    name = persona.get("name") if isinstance(persona, dict) else None
    if not isinstance(name, str) or not name.strip():
        return None
    version = persona.get("version")
    version = str(version)[:100] if version is not None else None
    return Agent(name.strip()[:200], version, _required_env(document), _oauth(document))


def _required_env(document: dict) -> list[str]:
    runtime = document.get("runtime")
    adapter = runtime.get("adapter") if isinstance(runtime, dict) else None
    declared = adapter.get("environment_variables") if isinstance(adapter, dict) else None
    if isinstance(declared, dict):
        declared = [*(declared.get("models") or []), *(declared.get("tools") or [])]
    return _names(declared, env=True)


def _oauth(document: dict) -> list[str]:
    auth = document.get("auth")
    providers = auth.get("providers") if isinstance(auth, dict) else None
    if not isinstance(providers, list):
        return []
    return _names([p.get("name") for p in providers if isinstance(p, dict)], env=False)


def _names(values: Any, *, env: bool) -> list[str]:
    # Names only: a value that looks like NAME=secret is never sent.
    if not isinstance(values, list):
        return []
    return [
        v for v in values if isinstance(v, str) and 0 < len(v) <= 200 and not (env and "=" in v)
    ]


_LINE = re.compile(r"^(?P<indent>[ \t]*)(?P<key>[A-Za-z_][\w-]*)[ \t]*:(?P<value>.*)$")


def _agent_from_lines(text: str) -> Agent | None:
    """Without PyYAML: the `name:` and `version:` keys of the top-level `persona:` block."""
    found: dict[str, str] = {}
    inside, child_indent = False, None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        indent = len(match["indent"]) if match else len(line) - len(line.lstrip())
        if indent == 0:
            inside = bool(match and match["key"] == "persona" and not _scalar(match["value"]))
            continue
        if not inside or match is None:
            continue
        child_indent = indent if child_indent is None else child_indent
        if indent == child_indent and match["key"] in ("name", "version"):
            found[match["key"]] = _scalar(match["value"])
    name = found.get("name")
    if not name:
        return None
    return Agent(name[:200], (found.get("version") or None) and found["version"][:100])


def _scalar(raw: str) -> str:
    """A one-line YAML scalar: quotes removed, a trailing comment dropped."""
    value = raw.strip()
    if value[:1] in ("'", '"'):
        quote = value[0]
        end = value.find(quote, 1)
        return value[1:end] if end > 0 else value[1:]
    comment = value.find(" #")
    if comment >= 0:
        value = value[:comment]
    return value.strip()


_warned: set[str] = set()


def _warn_once(key: str, message: str, *args: object) -> None:
    if key not in _warned:
        _warned.add(key)
        logger.warning(message, *args)
