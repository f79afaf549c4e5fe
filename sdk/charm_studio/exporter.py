"""StudioExporter: the Charm SDK's eight telemetry hooks, sent to Charm Studio.

The SDK builds a new exporter for every run and calls the hooks with keyword
arguments; tool, token and action hooks do not say which run they belong to. So the
run a hook belongs to is, in turn: the run this exporter started in the current context
(thread or asyncio task, through a context variable), else the last run this exporter
started, else a run another exporter started in this context and not yet ended, else
a new run.

Every hook is cheap (it appends to a buffer) and never raises.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import platform
from functools import lru_cache
from typing import Any

from charm_studio import payload
from charm_studio._version import __version__
from charm_studio.config import Settings, settings_from_env
from charm_studio.sender import TOKEN, Sender, get_sender
from charm_studio.state import RunState

try:
    from charm.core.telemetry import BaseTelemetryExporter as _ExporterBase
except Exception:  # the Charm SDK is not installed: the hooks can still be called by hand
    _ExporterBase = object  # type: ignore[assignment,misc]

logger = logging.getLogger("charm_studio")

_current_run: contextvars.ContextVar[RunState | None] = contextvars.ContextVar(
    "charm_studio_run", default=None
)


class StudioExporter(_ExporterBase):  # type: ignore[misc,valid-type]
    """Sends a Charm agent's runs to Charm Studio; off unless `CHARM_STUDIO_URL` is set.

    Made with no arguments, from the environment: `CHARM_STUDIO_URL`,
    `CHARM_STUDIO_API_KEY`, `CHARM_STUDIO_AGENT`, `CHARM_STUDIO_ENVIRONMENT`.
    """

    def __init__(self) -> None:
        self._key = object()  # marks the runs this exporter started
        self._last_run: RunState | None = None
        self._settings: Settings | None = None
        self._sender: Sender | None = None
        try:
            settings = settings_from_env()
            if settings is not None:
                self._sender = get_sender()
                self._settings = settings
        except Exception:
            _internal_error("__init__")

    # --- run lifecycle --------------------------------------------------------------

    def on_run_start(self, run_id: str = "local", inputs: Any = None, **_: Any) -> None:
        if self._sender is None:
            return
        try:
            self._start_run(inputs)
        except Exception:
            _internal_error("on_run_start")

    def on_run_end(self, run_id: str = "local", outputs: Any = None, **_: Any) -> None:
        sender = self._sender
        if sender is None:
            return
        try:
            run = self._run()
            kind, data = _run_end_event(outputs)
            if isinstance(outputs, dict) and outputs.get("status") == "error":
                declared = outputs.get("error_type")
                run.outputs_error_type = declared if isinstance(declared, str) else None
            with sender.lock:
                run.ended = True
                sender.append_locked(run, kind, data)
            self._wait_for(run)
        except Exception:
            _internal_error("on_run_end")

    def on_error(self, run_id: str = "local", error: Any = None, **_: Any) -> None:
        sender = self._sender
        if sender is None:
            return
        try:
            run = self._run()
            info = payload.crash_info(error, run.last_tool_error, run.outputs_error_type)
            with sender.lock:
                run.ended = True
                sender.append_locked(run, "error", {"error": info})
            self._wait_for(run)
        except Exception:
            _internal_error("on_error")

    # --- tools, tokens, actions -----------------------------------------------------

    def on_tool_start(self, tool_name: str = "", input_str: Any = "", **_: Any) -> None:
        sender = self._sender
        if sender is None:
            return
        try:
            run = self._run()
            tool = payload.name(tool_name)
            data = {"tool_name": tool, "input_str": _input_text(input_str)}
            with sender.lock:
                data["span_id"] = run.open_span(tool)
                sender.append_locked(run, "tool_start", data)
        except Exception:
            _internal_error("on_tool_start")

    def on_tool_end(self, tool_name: str = "", output: Any = None, **_: Any) -> None:
        sender = self._sender
        if sender is None:
            return
        try:
            run = self._run()
            tool = payload.name(tool_name)
            data = {"tool_name": tool, "output": payload.jsonable(output)}
            with sender.lock:
                data["span_id"] = run.close_span(tool)
                sender.append_locked(run, "tool_end", data)
        except Exception:
            _internal_error("on_tool_end")

    def on_tool_error(self, tool_name: str = "", error: Any = None, **_: Any) -> None:
        sender = self._sender
        if sender is None:
            return
        try:
            run = self._run()
            tool = payload.name(tool_name)
            info = payload.error_info(error)
            data = {"tool_name": tool, "error": info}
            with sender.lock:
                run.last_tool_error = info
                data["span_id"] = run.close_span(tool)
                sender.append_locked(run, "tool_error", data)
        except Exception:
            _internal_error("on_tool_error")

    def on_llm_new_token(self, token: str = "", **_: Any) -> None:
        sender = self._sender
        if sender is None:
            return
        try:
            if type(token) is not str:
                token = payload.text(token)
            if not token:
                return
            run = _current_run.get()
            if run is None or run.owner is not self._key:
                run = self._run()
            with sender.lock:
                sender.append_locked(run, TOKEN, {"token": token, "call_id": run.current_call_id()})
        except Exception:
            _internal_error("on_llm_new_token")

    def on_agent_action(self, tool: str = "", tool_input: Any = None, **_: Any) -> None:
        sender = self._sender
        if sender is None:
            return
        try:
            run = self._run()
            data = {"tool": payload.name(tool), "tool_input": payload.jsonable(tool_input)}
            with sender.lock:
                run.call_id = None
                sender.append_locked(run, "agent_action", data)
        except Exception:
            _internal_error("on_agent_action")

    # --- helpers --------------------------------------------------------------------

    def _run(self) -> RunState:
        run = _current_run.get()
        if run is not None and run.owner is self._key:
            return run
        if self._last_run is not None:
            return self._last_run
        if run is not None and not run.ended:
            return run  # another exporter's run, going on in this thread or task
        return self._start_run(None)

    def _start_run(self, inputs: Any) -> RunState:
        settings, sender = self._settings, self._sender
        assert settings is not None and sender is not None
        run = RunState(settings.agent, settings.target, self._key)
        data = {
            "inputs": payload.jsonable(inputs),
            "environment": settings.environment,
            "runtime": runtime_info(),
            "config": {"required_env": settings.agent.required_env, "oauth": settings.agent.oauth},
        }
        self._last_run = run
        _current_run.set(run)
        with sender.lock:
            sender.append_locked(run, "run_start", data)
        return run

    def _wait_for(self, run: RunState) -> None:
        """Wait for the run's events to reach Studio: at most 1 s per run in all."""
        assert self._sender is not None
        if run.flush_budget > 0:
            waited = self._sender.wait_for_run(run, run.flush_budget)
            run.flush_budget = max(0.0, run.flush_budget - waited)


def _run_end_event(outputs: Any) -> tuple[str, dict]:
    """A suspended run gets a status event (it is not over); any other a run_end."""
    if isinstance(outputs, dict) and outputs.get("status") == "suspended":
        return "status", _suspended(outputs)
    data = {"outputs": payload.jsonable(outputs)}
    answer_format = payload.output_format(outputs)
    if answer_format:
        data["format"] = answer_format
    return "run_end", data


def _suspended(outputs: dict) -> dict:
    next_step = outputs.get("next_step")
    if isinstance(next_step, (list, tuple)):
        next_step = ", ".join(payload.text(step, 200) for step in next_step)
    next_step = payload.text(next_step, 10_000) or None
    thread_id = outputs.get("thread_id")
    data = {
        "status": "suspended",
        "thread_id": payload.text(thread_id, 200) or None,
        "next_step": next_step,
    }
    message = outputs.get("message")
    if isinstance(message, str) and message:
        data["message"] = payload.text(message)
    else:
        data["message"] = "Suspended, waiting for a human" + (f": {next_step}" if next_step else "")
    return data


def _input_text(value: Any) -> Any:
    return payload.text(value) if isinstance(value, str) else payload.jsonable(value)


@lru_cache(maxsize=1)
def runtime_info() -> dict[str, str]:
    info = {"python": platform.python_version(), "exporter": f"charm-studio-exporter {__version__}"}
    sdk = _charmos_version()
    if sdk:
        info = {"sdk": f"charmos {sdk}", **info}
    return info


def _charmos_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("charmos")
    except Exception:
        return None


_failed_hooks: set[str] = set()


def _internal_error(hook: str) -> None:
    """A fault of the exporter itself: said once per hook, never raised to the agent."""
    with contextlib.suppress(Exception):
        if hook not in _failed_hooks:
            _failed_hooks.add(hook)
            logger.warning("charm-studio-exporter failed in %s; events may be missing", hook)
        logger.debug("charm-studio-exporter failed in %s", hook, exc_info=True)
