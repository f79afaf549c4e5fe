"""Charm's own streams: a process's stdout or a container log, and the runner's SSE.

Pure Python, no Django. What a Charm agent really writes (DESIGN.md sections 1 and 3b)
becomes protocol v1 events of one run, named by the sender:

- `__CHARM_EVENT__{json}` and `::CHARM_EVENT::{json}` lines, by their `type`;
- `thinking` in the default exporter's shapes (tool start, output, error, thought) as
  tool and agent-action events, any other `thinking` as a log line;
- `[charm] LEVEL: ...` lines as logs at that level; `✔ Loaded Agent: NAME` names the
  agent; the `{"status": "success", "output": ...}` line of `charm run --json` is the
  run's output; any other line is a log line.

Nothing on this wire has an id or a time. An event's id comes from the run, the line's
position in the run's stream and its content, so a capture sent twice stores nothing
twice and pieces of one stream (each with its starting line) lose no line. Its `seq`
is the position; its `ts` the receive time, a microsecond apart per line to keep order.
A line that cannot be read as what it claims to be is kept as a log line and noted.
"""

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from runs.protocol.storable import _is_valid_unicode
from runs.protocol.types import MAX_EVENT_BYTES, Event, EventError, Rejection

PREFIXES = ("__CHARM_EVENT__", "::CHARM_EVENT::")
# The container script's keep-alive, every 5 s: not output of the agent.
_HEARTBEAT = "..."
_LOADED_AGENT = re.compile(r"^\s*(?:✔|✓)?\s*Loaded Agent:\s*(?P<name>.+?)\s*$")
_CHARM_LOG = re.compile(r"^\[charm\]\s+(?P<level>[A-Z]+):\s?(?P<message>.*)$", re.DOTALL)
_TOOL_START = re.compile(r"^Using Tool: (?P<tool>[^\n]*)\nInput: (?P<input>.*?)\n?$", re.DOTALL)
_TOOL_OUTPUT = re.compile(r"^Tool Output: (?P<output>.*?)(?:\.\.\.)?\n?$", re.DOTALL)
_TOOL_ERROR = re.compile(r"^Tool Error: (?P<error>.*?)\n?$", re.DOTALL)
_THOUGHT = re.compile(r"^Thought: I need to use (?P<tool>\S+) with (?P<input>.*?)\n?$", re.DOTALL)
_EXCEPTION_TYPE = re.compile(
    r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Timeout|Warning|Failure))"
    r"(?::\s*|\s*$)(?P<message>.*)$",
    re.DOTALL,
)
_EXECUTION_FAILED = re.compile(r"^Execution Failed \(Code (?P<code>-?\d+)\)\.?")
_LOG_LEVELS = {
    "DEBUG": "debug",
    "INFO": "info",
    "WARNING": "warning",
    "WARN": "warning",
    "ERROR": "error",
    "CRITICAL": "critical",
}
_RESULT_STATUSES = frozenset({"success", "error", "suspended"})
_WRAPPED_RESULT_START = re.compile(r'^\{"status": "(?:success|error|suspended)"')
_WRAPPED_RESULT_MAX_LINES = 2_000  # a 150 KB answer at 80 columns
_WRAPPED_RESULT_MAX_ATTEMPTS = 8  # joins that end in "}" but are not yet the whole line
_OUTPUT_FORMATS = frozenset({"markdown", "json", "rich_component", "text"})
_NAME_MAX = 200
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Stream:
    """What the sender says about the body: whose stream it is and where it sits in it."""

    run_id: str
    received_at: datetime
    offset: int = 0  # the position of the body's first line in the run's stream
    ended: bool = False  # this body ends the stream
    agent: str | None = None
    environment: str | None = None


@dataclass
class StreamResult:
    events: list[Event] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)  # lines not kept
    noted: list[Rejection] = field(default_factory=list)  # lines kept as logs, and why


@dataclass
class Carry:
    """What one piece of a stream leaves open for the next, when one sender parses the
    pieces in order (the `ingest` command reading a pipe): the open LLM call and tools."""

    call_start: int | None = None  # position of the first delta of the open LLM call
    open_tools: list[tuple[str, str]] = field(default_factory=list)  # (span_id, tool name)
    agent: str | None = None


@dataclass
class _Reader:
    """The parse of one body: pairs tools and groups tokens within it (and across the
    pieces of one `Carry`)."""

    stream: Stream
    result: StreamResult
    agent: str | None
    call_start: int | None = None
    open_tools: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def of(cls, stream: Stream, agent: str | None, carry: Carry | None) -> "_Reader":
        if carry is None:
            return cls(stream, StreamResult(), agent)
        agent = agent or carry.agent
        carry.agent = agent
        return cls(stream, StreamResult(), agent, carry.call_start, carry.open_tools)

    def keep(self, carry: Carry | None) -> None:
        if carry is not None:
            carry.call_start, carry.open_tools = self.call_start, self.open_tools

    def add(self, position: int, type_: str, data: dict, content: str) -> None:
        stream = self.stream
        digest = hashlib.sha256(
            f"{stream.run_id}\n{position}\n{type_}\n{content}".encode("utf-8", "surrogatepass")
        ).hexdigest()
        # A microsecond per line of the body keeps line order among events that share
        # the receive time (protocol v1 lines in the same body are dated the same way).
        ts = stream.received_at + (position - stream.offset) * _MICROSECOND
        self.result.events.append(
            Event("cs-" + digest[:40], stream.run_id, type_, ts, position, self.agent, None, data)
        )

    def end_call(self) -> None:
        self.call_start = None


def parse_charm_text(
    text: str, stream: Stream, protocol_line=None, carry: Carry | None = None
) -> StreamResult:
    """A process's stdout or a container log, one line per entry.

    `protocol_line(line, index, position)`, when given, is offered every `{`-line first:
    it returns an `Event` (a protocol v1 event line), a `Rejection`, or None (not one).
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    loaded, loaded_at = _loaded_agent(lines)
    started = carry is not None and carry.agent is not None
    reader = _Reader.of(stream, stream.agent or loaded, carry)
    if not started:
        _start(reader, None if stream.agent else loaded_at)
    wrapped_until = -1
    for index, raw in enumerate(lines):
        if index <= wrapped_until:
            continue  # a piece of the wrapped result line, taken with its first piece
        line = raw.rstrip("\r")
        position = stream.offset + index
        if not line.strip():
            continue
        if _WRAPPED_RESULT_START.match(line):
            line, wrapped_until = _unwrapped_result(lines, index)
        if _too_big(line):
            reader.result.rejected.append(_size_rejection(index, line))
            continue
        if protocol_line is not None and line.lstrip().startswith("{"):
            taken = protocol_line(line, index, position)
            if isinstance(taken, Event):
                reader.result.events.append(taken)
                continue
            if isinstance(taken, Rejection):
                reader.result.rejected.append(taken)
                continue
        _line(reader, index, position, line)
    _finish(reader, stream.offset + len(lines))
    reader.keep(carry)
    return reader.result


def parse_charm_sse(text: str, stream: Stream, carry: Carry | None = None) -> StreamResult:
    """The runner's Server-Sent Events: `data:` frames of Charm events, per the SSE rules
    (multi-line data joined by newlines, CR/LF/CRLF, comments and other fields ignored).
    A frame's position is the line it starts on."""
    lines = re.split(r"\r\n|\r|\n", text)
    started = carry is not None and carry.agent is not None
    reader = _Reader.of(stream, stream.agent, carry)
    if not started:
        _start(reader)
    data: list[str] = []
    first = None
    for index, line in enumerate([*lines, ""]):
        if line == "":
            if data:
                _sse_frame(reader, first, stream.offset + first, "\n".join(data))
            data, first = [], None
            continue
        if line.startswith(":"):
            continue  # a comment: the runner's heartbeat
        name, _, value = line.partition(":")
        if name != "data":
            continue  # event, id, retry: Charm's runner sends data only
        if first is None:
            first = index
        data.append(value.removeprefix(" "))
    _finish(reader, stream.offset + len(lines))
    reader.keep(carry)
    return reader.result


def _sse_frame(reader: _Reader, index: int, position: int, payload: str) -> None:
    if _too_big(payload):
        reader.result.rejected.append(_size_rejection(index, payload))
        return
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError):
        value = None
    if type(value) is dict and type(value.get("type")) is str:
        _charm_event(reader, index, position, value, payload)
        return
    _log(reader, position, payload, "info", "stdout", None)
    reader.result.noted.append(
        Rejection(index, "SSE data is not a Charm event object; kept as a log line")
    )


def _start(reader: _Reader, loaded_at: int | None = None) -> None:
    """Open the run: at the stream's start when the sender names the agent, else at the
    CLI's `✔ Loaded Agent` line (the first thing `charm run` says of it)."""
    stream = reader.stream
    if not reader.agent or (loaded_at is None and stream.offset != 0):
        return
    position = stream.offset + (loaded_at or 0)
    data = {
        "inputs": None,
        "environment": stream.environment or "local",
        "runtime": {},
        "config": {"required_env": [], "oauth": []},
    }
    reader.add(position, "run_start", data, reader.agent)


def _finish(reader: _Reader, end_position: int) -> None:
    if reader.stream.ended:
        reader.end_call()
        reader.add(end_position, "stream_end", {"lines": end_position}, "")


def _loaded_agent(lines: list[str]) -> tuple[str | None, int | None]:
    """The agent `charm run` says it loaded, and the line it says so on."""
    for index, line in enumerate(lines[:200]):  # printed before the agent starts
        match = _LOADED_AGENT.match(line)
        if match:
            return match["name"][:_NAME_MAX], index
    return None, None


def _too_big(line: str) -> bool:
    return (
        len(line) * 4 > MAX_EVENT_BYTES and len(line.encode("utf-8", "replace")) > MAX_EVENT_BYTES
    )


def _size_rejection(index: int, line: str) -> Rejection:
    size = len(line.encode("utf-8", "replace"))
    return Rejection(index, f"line is {size:,} bytes; the limit is {MAX_EVENT_BYTES:,}")


def _line(reader: _Reader, index: int, position: int, line: str) -> None:
    for prefix in PREFIXES:
        start = line.find(prefix)
        if start >= 0:
            payload = line[start + len(prefix) :].strip()
            try:
                value = json.loads(payload)
            except (ValueError, RecursionError) as error:
                _log(reader, position, line, "warning", "stdout", None)
                reader.result.noted.append(
                    Rejection(
                        index,
                        f"{prefix} line is not valid JSON ({_why(error)}); kept as a log line",
                    )
                )
                return
            if type(value) is not dict or type(value.get("type")) is not str:
                _log(reader, position, line, "warning", "stdout", None)
                reader.result.noted.append(
                    Rejection(
                        index, f"{prefix} line holds no Charm event object; kept as a log line"
                    )
                )
                return
            _charm_event(reader, index, position, value, payload)
            return
    match = _CHARM_LOG.match(line)
    if match:
        level = _LOG_LEVELS.get(match["level"], "info")
        _log(reader, position, match["message"], level, "stdout", "charm", content=line)
        return
    if line.lstrip().startswith("{") and _run_result(reader, position, line):
        return
    _log(reader, position, line, "info", "stdout", None)


def _unwrapped_result(lines: list[str], start: int) -> tuple[str, int]:
    """`charm run --json` prints its result line through Rich, which wraps it at the
    console width (80 columns in a pipe): a break drops the space it falls on when the
    line is full, keeps it otherwise, and a word longer than a line is cut with no space.
    So a piece that holds a space but does not end with one lost one. Returns the line
    joined and the index of its last piece (`start` when it was not wrapped)."""
    text = lines[start].rstrip("\r")
    if _is_json(text):
        return text, start
    joined, attempts = text, 0
    for end in range(start + 1, min(len(lines), start + _WRAPPED_RESULT_MAX_LINES)):
        piece = lines[end].rstrip("\r")
        if not piece.strip() or piece.startswith(PREFIXES) or _CHARM_LOG.match(piece):
            break
        joined += (" " if " " in text and not text.endswith(" ") else "") + piece
        text = piece
        if len(joined) > MAX_EVENT_BYTES:
            break
        if joined.endswith("}"):
            if _is_json(joined):
                return joined, end
            attempts += 1
            if attempts == _WRAPPED_RESULT_MAX_ATTEMPTS:
                break
    return lines[start].rstrip("\r"), start


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _why(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at column {error.colno}"
    return "nested too deeply"


def _run_result(reader: _Reader, position: int, line: str) -> bool:
    """`charm run --json` ends with the wrapper's result: the output of a streamed answer."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return False
    if type(value) is not dict or value.get("status") not in _RESULT_STATUSES or "type" in value:
        return False
    if value["status"] == "success":
        reader.end_call()
        reader.add(position, "run_end", {"outputs": value.get("output"), "format": None}, line)
        return True
    _log(reader, position, line, "info", "stdout", "charm.result", content=line)
    return True


def _charm_event(reader: _Reader, index: int, position: int, value: dict, raw: str) -> None:
    kind = value["type"]
    content = value.get("content")
    handler = _HANDLERS.get(kind)
    if handler is None:
        _log(reader, position, raw, "info", "stdout", "charm.event", content=raw)
        reader.result.noted.append(
            Rejection(index, f"unknown Charm event type {kind[:50]!r}; kept as a log line")
        )
        return
    try:
        handler(reader, position, value, content, raw)
    except (EventError, KeyError, TypeError, ValueError, AttributeError):
        _log(reader, position, raw, "warning", "stdout", "charm.event", content=raw)
        reader.result.noted.append(
            Rejection(index, f"Charm {kind!r} event has an unexpected shape; kept as a log line")
        )


def _text(content: object) -> str:
    if content is None:
        return ""
    if type(content) is str:
        return content
    return json.dumps(content, ensure_ascii=False)


def _log(
    reader: _Reader,
    position: int,
    message: str,
    level: str,
    stream: str,
    logger: str | None,
    *,
    content: str | None = None,
) -> None:
    message = _storable(message)
    data = {"message": message, "level": level, "stream": stream, "logger": logger}
    reader.add(position, "log", data, message if content is None else content)


def _storable(text: str) -> str:
    text = text.replace("\x00", "\ufffd")  # PostgreSQL text cannot hold NUL
    if not _is_valid_unicode(text):
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _on_status(reader, position, value, content, raw) -> None:
    message = _storable(_text(content))
    data = {"status": "running", "message": message, "thread_id": None, "next_step": None}
    reader.add(position, "status", data, raw)


def _on_thinking(reader, position, value, content, raw) -> None:
    text = _text(content)
    if text.strip() == _HEARTBEAT:
        return
    if match := _TOOL_START.match(text):
        reader.end_call()
        span_id = f"L{position}"
        tool = match["tool"].strip()[:_NAME_MAX] or "unknown"
        reader.open_tools.append((span_id, tool))
        data = {"tool_name": tool, "input_str": _storable(match["input"]), "span_id": span_id}
        reader.add(position, "tool_start", data, raw)
    elif match := _TOOL_OUTPUT.match(text):
        reader.end_call()
        span_id, tool = _close_tool(reader)
        data = {"tool_name": tool, "output": _storable(match["output"]), "span_id": span_id}
        reader.add(position, "tool_end", data, raw)
    elif match := _TOOL_ERROR.match(text):
        reader.end_call()
        span_id, tool = _close_tool(reader)
        error = _error_info(_storable(match["error"]), default_type="ToolError")
        reader.add(
            position, "tool_error", {"tool_name": tool, "error": error, "span_id": span_id}, raw
        )
    elif match := _THOUGHT.match(text):
        reader.end_call()
        data = {"tool": match["tool"][:_NAME_MAX], "tool_input": _storable(match["input"])}
        reader.add(position, "agent_action", data, raw)
    elif match := _CHARM_LOG.match(text.rstrip("\n")):
        # The runner sends each plain line of the container as `thinking`: the SDK's own
        # `[charm] LEVEL:` lines keep their level.
        level = _LOG_LEVELS.get(match["level"], "info")
        _log(reader, position, match["message"], level, "stdout", "charm", content=raw)
    else:
        _log(reader, position, text.rstrip("\n"), "info", "stdout", None, content=raw)


def _close_tool(reader: _Reader) -> tuple[str | None, str]:
    # The default exporter's output line names no tool: it ends the oldest open one.
    # One whose start came in an earlier body pairs in order with the run's open starts.
    if reader.open_tools:
        return reader.open_tools.pop(0)
    return None, "unknown"


def _on_delta(reader, position, value, content, raw) -> None:
    if reader.call_start is None:
        reader.call_start = position
    data = {
        "token": _storable(_text(content)),
        "model": None,
        "call_id": f"stream:{reader.call_start}",
    }
    reader.add(position, "llm_new_token", data, raw)


def _on_final(reader, position, value, content, raw) -> None:
    reader.end_call()
    form = value.get("format")
    data = {"outputs": content, "format": form if form in _OUTPUT_FORMATS else None}
    reader.add(position, "run_end", data, raw)


def _on_error(reader, position, value, content, raw) -> None:
    reader.end_call()
    reader.add(position, "error", {"error": _error_info(_storable(_text(content)))}, raw)


def _on_artifact(reader, position, value, content, raw) -> None:
    name = content["name"]
    if type(name) is not str or not name:
        raise ValueError("artifact without a name")
    data = {
        "name": _storable(name)[:500],
        "url": _optional_text(content.get("url"), 4000),
        "mime": _optional_text(content.get("mime"), 200),
    }
    reader.add(position, "artifact", data, raw)


def _optional_text(value: object, limit: int) -> str | None:
    if value is None or value == "":
        return None
    if type(value) is not str or len(value) > limit:
        raise ValueError("not a short string")
    return _storable(value)


def _on_tool_usage(reader, position, value, content, raw) -> None:
    tool = value.get("tool")
    count = value.get("count", 1)
    if type(tool) is not str or not 0 < len(tool) <= _NAME_MAX:
        raise ValueError("tool_usage without a tool name")
    if type(count) is not int or not 0 < count <= 1_000_000_000:
        raise ValueError("tool_usage count out of range")
    reader.add(position, "tool_usage", {"tool": _storable(tool), "count": count}, raw)


def _on_state_update(reader, position, value, content, raw) -> None:
    reader.add(position, "state_update", {"state": content}, raw)


def _on_control(reader, position, value, content, raw) -> None:
    if value.get("status") != "suspended":
        raise ValueError("unknown control")
    reader.end_call()
    thread_id = _optional_text(value.get("thread_id"), _NAME_MAX)
    next_step = value.get("next_step")
    data = {
        "status": "suspended",
        "message": "Suspended, waiting for a human" + (f": {next_step}" if next_step else "."),
        "thread_id": thread_id,
        "next_step": _optional_text(_text(next_step) if next_step is not None else None, 10_000),
    }
    reader.add(position, "status", data, raw)


def _on_run_finished(reader, position, value, content, raw) -> None:
    info = content if type(content) is dict else value
    code = info["exit_code"]
    duration = info.get("duration_ms")
    if type(code) is not int or not -(2**31) <= code < 2**31:
        raise ValueError("exit code is not a whole number")
    if duration is not None and (type(duration) is not int or duration < 0):
        duration = None
    reader.end_call()
    reader.add(position, "process_exit", {"exit_code": code, "duration_ms": duration}, raw)


_HANDLERS = {
    "status": _on_status,
    "thinking": _on_thinking,
    "delta": _on_delta,
    "final": _on_final,
    "error": _on_error,
    "artifact": _on_artifact,
    "tool_usage": _on_tool_usage,
    "state_update": _on_state_update,
    "control": _on_control,
    "internal_run_finished": _on_run_finished,
}


def _error_info(text: str, *, default_type: str = "AgentError") -> dict:
    """Charm's errors are text: take the exception type from it where it names one."""
    message = text.strip()
    if match := _EXECUTION_FAILED.match(message):
        code = int(match["code"])
        kind = "OutOfMemory" if code == 137 else "ProcessExit"
        return {"type": kind, "message": message, "traceback": None}
    for lead in ("Agent Execution Failed: ", "Docker Execution Error: "):
        if message.startswith(lead):
            rest = message[len(lead) :]
            if match := _EXCEPTION_TYPE.match(rest):
                return {"type": match["type"][:200], "message": match["message"], "traceback": None}
            kind = "AgentExecutionFailed" if lead.startswith("Agent") else "DockerExecutionError"
            return {"type": kind, "message": rest, "traceback": None}
    if match := _EXCEPTION_TYPE.match(message):
        return {"type": match["type"][:200], "message": match["message"], "traceback": None}
    return {"type": default_type, "message": message, "traceback": None}
