"""Run detail: the debug timeline support staff live in.

One view renders the whole page or, for an htmx request, the partial its target names
(`detail-pane`, `logs`, `timeline`, `rows-more`). The URL holds the state: `tab`
(timeline or logs), `item` (the selected timeline item, `kind:key`), `page`, `level`
and `q` for the logs, `rows` for the timeline page.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from billing.pricing import format_money
from runs.ingest.runstate import OOM_EXIT_CODE
from runs.models import LlmCall, Run
from runs.presentation import MEMBER, Presentation
from runs.retention import events_purged_note
from runs.selectors.detail import (
    FAILED_STATUSES,
    LOG_PAGE,
    STATUS_OF_TYPE,
    call_get,
    log_line_number,
    log_page,
    run_error_events,
    run_for_detail,
    run_position,
    run_timeline,
    span_after_action,
    span_get,
)
from runs.selectors.events import event_get
from runs.spans import span_state
from runs.timeline import KINDS, LOG_LEVELS, format_ms, token_strip
from runs.tokens import call_summary, tokens_from_json, ttft_ms
from runs.views.runs import run_href
from studio.tenancy import require_capability

TEMPLATE = "runs/run_detail.html"
TABS = ("timeline", "logs")
JSON_SHOWN_CHARS = 60_000  # inputs, outputs, tool input/output shown on the page, at most
ATTRIBUTE_SHOWN_CHARS = 2_000  # one attribute's value in an item's attribute table
TRACEBACK_FOLD = 6  # tracebacks with more frames fold the middle ones


@dataclass(frozen=True)
class DetailState:
    """The page's state, read from its URL."""

    tab: str = "timeline"
    item: tuple[str, str] | None = None
    rows_page: int = 1
    log_page: int = 1
    levels: tuple[str, ...] = ()
    q: str = ""

    @classmethod
    def from_params(cls, params: QueryDict) -> DetailState:
        tab = params.get("tab") if params.get("tab") in TABS else "timeline"
        levels = tuple(
            level for value in params.getlist("level") for level in value.split(",")
            if level in LOG_LEVELS
        )  # fmt: skip
        return cls(
            tab=tab,
            item=parse_item(params.get("item") or ""),
            rows_page=_positive(params.get("rows")),
            log_page=_positive(params.get("page")),
            levels=levels,
            q=(params.get("q") or "").strip()[:200],
        )


def parse_item(value: str) -> tuple[str, str] | None:
    """`kind:key` → (kind, key); the key may itself hold colons."""
    kind, sep, key = value.partition(":")
    if not sep or not key or kind not in KINDS:
        return None
    return kind, key[:200]


def _positive(value: str | None) -> int:
    try:
        return max(1, min(int(value or 1), 10_000))
    except ValueError:
        return 1


@require_GET
@require_capability("view_runs")
@vary_on_headers("HX-Request", "HX-Target")
def run_detail(request: HttpRequest, run_id: str) -> HttpResponse:
    run = run_for_detail(project=request.project, run_id=run_id)
    if run is None:
        raise Http404("No run with this id in this project.")
    return run_response(request, run, DetailState.from_params(request.GET))


def run_response(
    request: HttpRequest,
    run: Run,
    state: DetailState,
    show: Presentation = MEMBER,
    page_extra: dict | None = None,
) -> HttpResponse:
    """The run page, or for an htmx request the partial its target names; the share
    link's page is this same response, shown through `show`."""
    target = request.htmx.target if request.htmx else None
    if target == "detail-pane":
        return render(request, f"{TEMPLATE}#pane", pane_context(run, state.item, show))
    if target == "logs":
        return render(request, f"{TEMPLATE}#logs", logs_context(run, state, show=show))
    if target == "rows-more":
        return render(request, f"{TEMPLATE}#rows_page", timeline_context(run, state, show))
    if target == "timeline":  # the polling fallback of the live tail
        context = {**timeline_context(run, state, show), **header_context(run, show), "oob": True}
        return render(request, f"{TEMPLATE}#timeline_poll", context)
    return render(request, TEMPLATE, {**page_context(run, state, show), **(page_extra or {})})


# ── Contexts ───────────────────────────────────────────────────────────────────


def page_context(run: Run, state: DetailState, show: Presentation = MEMBER) -> dict:
    """The whole page. Through a share link (`show.shared`) the run given is already
    redacted; what is read here is redacted by `show.redact` as it is read."""
    errors = run_error_events(run=run)
    context: dict = {
        **header_context(run, show),
        "state": state,
        "errors_block": errors_context(run, errors, show),
        "inputs": pretty_json(run.inputs),
        "outputs": pretty_text(run.outputs)
        if isinstance(run.outputs, str)
        else pretty_json(run.outputs),
        "outputs_label": "Outputs",
        "state_block": pretty_json(run.state["value"]) if run.state else None,
        "artifacts": [_artifact(a, show) for a in run.artifacts],
        "events_purged": events_purged_note(run),
        "thread_runs": [] if show.shared else _thread_runs(run),
        "share_create_url": None
        if show.shared
        else _reverse_or_none("shares:create", args=[run.run_id]),
        "checklist_url": _reverse_or_none("runs:checklist", args=[run.run_id])
        if run.status in FAILED_STATUSES and not show.shared
        else None,
    }
    if context["outputs"] is None and run.llm_calls:
        # A streamed answer has no `final`: the last LLM call's text is the output.
        last = LlmCall.objects.filter(run=run).order_by("-first_token_at").values("text").first()
        if last and last["text"]:
            context["outputs"] = pretty_text(show.redact.text(last["text"]))
            context["outputs_label"] = "Output (streamed answer)"
    if state.tab == "logs":
        context.update(logs_context(run, state, errors=errors, show=show))
        logs = context["logs"]
        context["tab_counts"] = None if logs.filtered else {"logs": logs.matches}
    else:
        context.update(timeline_context(run, state, show))
        if context["selected"]:
            context.update(pane_context(run, parse_item(context["selected"]), show))
    return context


def header_context(run: Run, show: Presentation = MEMBER) -> dict:
    runtime = run.runtime if isinstance(run.runtime, dict) else {}
    return {
        "run": run,
        "shared": show.shared,
        "status_label": run.status.replace("_", " "),
        "failed": run.status in FAILED_STATUSES,
        "duration": _run_duration(run),
        "cost": _cost_text(run),
        "revenue": _revenue(run.revenue),
        "runtime": [
            (label, runtime.get(name))
            for name, label in (
                ("sdk_version", "SDK"),
                ("python", "Python"),
                ("image", "Image"),
                ("region", "Region"),
                # A run from OpenTelemetry: what sent it.
                ("service", "Service"),
                ("sdk_language", "OTel SDK"),
                ("scope", "Instrumentation"),
                ("user_id", "User"),
            )
            if runtime.get(name)
        ],
        "compare_url": None if show.shared else _compare_url(run),
        "exit": _exit(run.exit_code),
        "tool_uses": sorted(run.tool_usage.items()) if isinstance(run.tool_usage, dict) else [],
        # A shared page is a still picture: the live tail is for members.
        "live": not run.status_terminal and not show.shared,
        "live_url": "" if show.shared else reverse("runs:live", args=[run.run_id]),
        "position": run_position(run),
    }


def timeline_context(run: Run, state: DetailState, show: Presentation = MEMBER) -> dict:
    timeline = run_timeline(run=run, page=state.rows_page, redact=show.redact)
    selected = None
    if state.item:
        selected = f"{state.item[0]}:{state.item[1]}"
    elif timeline.failing:
        selected = timeline.failing
    return {
        "timeline": timeline,
        "waterfall": timeline.waterfall,
        "selected": selected,
        "failing": timeline.failing,
        "next_rows_page": state.rows_page + 1,
        "tab_counts": {"logs": timeline.log_count},
    }


def logs_context(
    run: Run,
    state: DetailState,
    *,
    errors: list[dict] | None = None,
    show: Presentation = MEMBER,
) -> dict:
    failure_at = None
    if run.status in FAILED_STATUSES:
        errors = errors if errors is not None else []
        failure_at = errors[-1]["ts"] if errors else run.ended_at
    # No text search through a share link: counting matches in the stored lines
    # would tell a visitor whether a guessed secret is there.
    q = "" if show.shared else state.q
    page = log_page(run=run, levels=state.levels, q=q, page=state.log_page, failure_at=failure_at)
    if show.shared:  # each line whole again: search is off, so there is nothing to mark
        for line in page.lines:
            text = "".join(part for part, _hit in line.parts)
            redact = show.redact.cut_text if line.cut else show.redact.text
            line.parts = [(redact(text), False)]
    return {
        "run": run,
        "shared": show.shared,
        "logs": page,
        "failure_page": _page_of(page.failure_line),
        "logs_prev": _logs_query(page, page.page - 1),
        "logs_next": _logs_query(page, page.page + 1),
    }


def _logs_query(page, number: int) -> str:
    query = QueryDict(mutable=True)
    query["tab"] = "logs"
    if page.levels:
        query.setlist("level", list(page.levels))
    if page.q:
        query["q"] = page.q
    query["page"] = str(number)
    return query.urlencode()


def errors_context(run: Run, errors: list[dict], show: Presentation = MEMBER) -> dict | None:
    """The error card: the run's crash, else the last failed tool call's error."""
    if errors:
        error = show.redact.value(errors[-1])
        failure_line = None
        if run.status in FAILED_STATUSES:
            failure_line = log_line_number(run=run, at=error["ts"]) or None
        return {
            "type": error.get("type") or "Error",
            "message": error.get("message") or "",
            "traceback": traceback_blocks(error.get("traceback") or ""),
            "ts": error["ts"],
            "item": f"error:{error['event_id']}",
            "more": len(errors) - 1,
            "failure_line": failure_line,
            "failure_page": _page_of(failure_line),
        }
    if run.error_type:
        return {"type": run.error_type, "message": run.error_message, "traceback": None}
    return None


def pane_context(run: Run, item: tuple[str, str] | None, show: Presentation = MEMBER) -> dict:
    """The side pane for one timeline item; `pane` is None when it does not exist."""
    base = {"run": run, "pane": None, "selected": None, "shared": show.shared}
    if item is None:
        return base
    kind, key = item
    base["selected"] = f"{kind}:{key}"
    if kind == "tool":
        span = span_get(run=run, span_key=key)
        base["pane"] = _tool_pane(run, _redact_span(span, show)) if span else None
    elif kind == "llm":
        call = call_get(run=run, call_id=key)
        base["pane"] = _llm_pane(_redact_call(call, show), show) if call else None
    else:
        event = event_get(run=run, event_id=key)
        if event is not None:
            event_id, ts, seq, type_, data = event
            redacted = (event_id, ts, seq, type_, show.redact.value(data))
            base["pane"] = _event_pane(run, kind, redacted, show)
    return base


def _redact_span(span, show: Presentation):
    # A fresh instance from the read, never saved: redacting it in place is safe.
    span.input_str = show.redact.text(span.input_str)
    span.output = show.redact.value(span.output)
    span.error = show.redact.value(span.error)
    span.attributes = show.redact.value(span.attributes)
    return span


def _redact_call(call, show: Presentation):
    call.text = show.redact.text(call.text)
    call.prompt = show.redact.value(call.prompt)
    call.details = show.redact.value(call.details)
    return call


def _tool_pane(run: Run, span) -> dict:
    state = span_state(span, run.status_terminal)
    duration = None
    if span.started_at and span.ended_at:
        duration = format_ms((span.ended_at - span.started_at).total_seconds() * 1000)
    error = span.error if isinstance(span.error, dict) else None
    return {
        "kind": "tool",
        "title": span.tool_name,
        "span": span,
        "state": state,
        "duration": duration,
        "input": pretty_text(span.input_str),
        "output": pretty_json(span.output) if span.output is not None else None,
        "error": _error_block(error) if error else None,
        "attributes": attribute_rows(span.attributes),
    }


def _llm_pane(call, show: Presentation = MEMBER) -> dict:
    summary = call_summary(tokens_from_json(call.tokens)) if call.tokens else None
    ttft = ttft_ms(call.wait_start, call.first_token_at)
    strip = None
    if summary and summary.offsets_ms:
        strip = token_strip(summary.offsets_ms, [(s.after_index, s.gap_ms) for s in summary.stalls])
    cost = format_money(call.cost, "USD") if call.cost is not None and not show.shared else None
    details = dict(call.details or {})
    error = details.pop("error", None)
    whole = not call.token_count and call.started_at is not None
    latency = None
    if whole and call.ended_at:
        latency = (call.ended_at - call.started_at).total_seconds() * 1000
    return {
        "kind": "llm",
        "title": call.model or call.call_id,
        "call": call,
        "whole": whole,
        "latency": format_ms(latency) if latency is not None else None,
        "output_rate": f"{call.output_tokens / latency * 1000:.1f}"
        if latency and call.output_tokens
        else None,
        "prompt": prompt_messages(call.prompt),
        "error": _error_block(error) if isinstance(error, dict) else None,
        "attributes": attribute_rows(details),
        "text": call.text,
        "ttft": format_ms(ttft) if ttft is not None else None,
        "wait_start": call.wait_start,
        "tokens_per_second": f"{summary.tokens_per_second:.1f}"
        if summary and summary.tokens_per_second
        else None,
        "stream_duration": format_ms(summary.duration.total_seconds() * 1000)
        if summary and summary.duration is not None and summary.token_count > 1
        else None,
        "stalls": [(s.after_index, format_ms(s.gap_ms)) for s in summary.stalls] if summary else [],
        "strip": strip,
        "cost": cost,
    }


def _event_pane(run: Run, kind: str, event: tuple, show: Presentation = MEMBER) -> dict | None:
    event_id, ts, seq, type_, data = event
    pane: dict = {"kind": kind, "event_id": event_id, "ts": ts, "seq": seq, "type": type_}
    if kind == "action" and type_ == "agent_action":
        tool = str(data.get("tool") or "")
        span = span_after_action(run=run, tool=tool, at=ts) if tool else None
        return {**pane, "title": tool or "agent action", "tool_input": pretty_json(
            data.get("tool_input")), "span": span}  # fmt: skip
    if kind == "error" and type_ == "error":
        error = data.get("error") or {}
        group_url = None
        if show.shared:
            return {**pane, "title": error.get("type") or "error", "error": _error_block(error)}
        if run.error_group_id:
            group_url = _reverse_or_none("runs:error_detail", args=[run.error_group_id])
        return {
            **pane,
            "title": error.get("type") or "error",
            "error": _error_block(error),
            "group_url": group_url or _reverse_or_none("runs:errors"),
        }
    if kind == "status" and type_ in ("run_start", "status", "run_end", "error"):
        status = data.get("status") or STATUS_OF_TYPE.get(type_, "")
        return {**pane, "title": f"{type_} · {status}", "status": status,
                "message": data.get("message") or ""}  # fmt: skip
    if kind == "log" and type_ == "log":
        number = log_line_number(run=run, at=ts, event_id=event_id)
        return {
            **pane,
            "title": f"log line {number}",
            "number": number,
            "page": _page_of(number),
            "level": data.get("level") or "info",
            "logger": data.get("logger") or "",
            "stream": data.get("stream") or "",
            "message": str(data.get("message") or "")[:JSON_SHOWN_CHARS],
            "attributes": attribute_rows(data.get("attributes")),
        }
    return None


def _error_block(error: dict) -> dict:
    return {
        "type": error.get("type") or "Error",
        "message": str(error.get("message") or ""),
        "traceback": traceback_blocks(error.get("traceback") or ""),
    }


# ── Formatting (pure) ──────────────────────────────────────────────────────────


def _exit(code: int | None) -> dict | None:
    if code is None:
        return None
    if code == OOM_EXIT_CODE:
        return {"code": code, "bad": True, "note": "killed: likely out of memory"}
    return {"code": code, "bad": code != 0, "note": ""}


def _thread_runs(run: Run) -> list[dict]:
    """The other runs of a suspended run's thread: what paused it and what resumed it."""
    if not run.thread_id:
        return []
    others = (
        Run.objects.filter(project_id=run.project_id, thread_id=run.thread_id)
        .exclude(pk=run.pk)
        .order_by("started_at")
        .values("run_id", "status", "started_at")[:20]
    )
    return [{**other, "href": run_href(other["run_id"])} for other in others]


def _artifact(artifact: dict, show: Presentation = MEMBER) -> dict:
    if show.shared:  # its URL may be the organization's storage, signed: name and type only
        return {"name": artifact.get("name") or "", "mime": artifact.get("mime") or "",
                "url": "", "linkable": False}  # fmt: skip
    url = artifact.get("url") or ""
    # Only web links become links: a javascript: or data: URL is shown as text.
    linkable = url.lower().startswith(("https://", "http://"))
    return {**artifact, "url": url, "linkable": linkable}


def pretty_json(value: object) -> dict | None:
    """Indented JSON for a <pre>, cut past JSON_SHOWN_CHARS; None when there is none."""
    if value is None:
        return None
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)
    return _shown(text, preview=_preview(value))


def attribute_rows(attributes: object) -> list[tuple[str, str]]:
    """(key, value) rows of an item's extra attributes, by key: a value that is not
    text as compact JSON, each cut past ATTRIBUTE_SHOWN_CHARS."""
    if not isinstance(attributes, dict):
        return []
    rows = []
    for key in sorted(attributes):
        value = attributes[key]
        if not isinstance(value, str):
            value = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
        if len(value) > ATTRIBUTE_SHOWN_CHARS:
            value = value[: ATTRIBUTE_SHOWN_CHARS - 1] + "…"
        rows.append((str(key), value))
    return rows


def prompt_messages(prompt: object) -> dict | None:
    """What an LLM call was sent: `messages` (role, content text) when it is a list of
    chat messages, else `raw`, the value as indented JSON."""
    if prompt is None or prompt == "":
        return None
    if (
        isinstance(prompt, list)
        and prompt
        and all(isinstance(m, dict) and "role" in m for m in prompt)
    ):
        messages = []
        for message in prompt:
            content = message.get("content")
            if content is not None and not isinstance(content, str):
                content = json.dumps(content, indent=2, ensure_ascii=False, default=str)
            extra = {k: v for k, v in message.items() if k not in ("role", "content")}
            if extra:  # tool calls, names: shown after the text
                content = "\n".join(
                    filter(None, [content, json.dumps(extra, indent=2, ensure_ascii=False)])
                )
            text = (content or "")[:JSON_SHOWN_CHARS]
            messages.append({"role": str(message["role"]), "content": text})
        return {"messages": messages}
    if isinstance(prompt, str):
        return {"raw": _shown(prompt, preview=_preview(prompt))}
    return {"raw": pretty_json(prompt)}


def pretty_text(text: str | None) -> dict | None:
    """A tool's input string: indented when it is JSON, as it came otherwise."""
    if not text:
        return None
    try:
        return pretty_json(json.loads(text))
    except (ValueError, TypeError):
        return _shown(text, preview=_preview(text))


def _shown(text: str, *, preview: str) -> dict:
    return {
        "text": text[:JSON_SHOWN_CHARS],
        "cut": len(text) > JSON_SHOWN_CHARS,
        "size": _size(len(text.encode())),
        "preview": preview,
        "lines": text.count("\n") + 1,
    }


def _preview(value: object, limit: int = 140) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


_FRAME = re.compile(r'^\s*File "(?P<file>[^"]*)", line (?P<line>\d+)(?:, in (?P<func>.*))?$')


def traceback_blocks(traceback: str) -> list[dict] | None:
    """A Python traceback as blocks to render: text, frames, and folds of frames.

    A run of more than TRACEBACK_FOLD frames keeps its first frame and its last three
    (where the error happened) open and folds the others. Frames in installed packages
    are marked `library`, so the agent's own frames stand out.
    """
    if not traceback.strip():
        return None
    blocks: list[dict] = []
    for line in traceback.splitlines():
        match = _FRAME.match(line)
        if match:
            file = match.group("file")
            blocks.append(
                {
                    "kind": "frame",
                    "file": file,
                    "line": match.group("line"),
                    "func": match.group("func") or "",
                    "code": [],
                    "library": "site-packages" in file or "/lib/python" in file,
                }
            )
        elif blocks and blocks[-1]["kind"] == "frame" and line.startswith("    "):
            blocks[-1]["code"].append(line[4:])
        elif blocks and blocks[-1]["kind"] == "text":
            blocks[-1]["text"] += "\n" + line
        else:
            blocks.append({"kind": "text", "text": line})
    return _fold_frames(blocks)


def _fold_frames(blocks: list[dict]) -> list[dict]:
    folded: list[dict] = []
    run: list[dict] = []

    def flush() -> None:
        if len(run) > TRACEBACK_FOLD:
            folded.append(run[0])
            folded.append({"kind": "fold", "frames": run[1:-3], "count": len(run) - 4})
            folded.extend(run[-3:])
        else:
            folded.extend(run)
        run.clear()

    for block in blocks:
        if block["kind"] == "frame":
            block["code"] = "\n".join(block["code"])
            run.append(block)
        else:
            flush()
            folded.append(block)
    flush()
    return folded


def _run_duration(run: Run) -> dict:
    if run.duration_ms is not None:
        return {"text": format_ms(run.duration_ms), "so_far": False}
    elapsed = (run.last_event_at - run.started_at).total_seconds() * 1000
    return {"text": format_ms(max(0, elapsed)), "so_far": True}


def _cost_text(run: Run) -> dict:
    cost = run.cost or Decimal(0)
    used = run.input_tokens or run.output_tokens or run.cache_read_tokens or run.unpriced_calls
    return {
        "amount": format_money(cost, "USD") if used and (cost or not run.unpriced_calls) else None,
        "unpriced": run.unpriced_calls,
        "none": not used and not cost,
    }


def _revenue(revenue: object) -> list[str]:
    if not isinstance(revenue, dict):
        return []
    shown = []
    for currency in sorted(revenue):
        try:
            shown.append(format_money(Decimal(str(revenue[currency])), currency))
        except (InvalidOperation, ValueError, TypeError):
            continue
    return shown


def _page_of(line: int | None) -> int | None:
    return (line - 1) // LOG_PAGE + 1 if line else None


def _reverse_or_none(name: str, **kwargs) -> str | None:
    try:
        return reverse(name, **kwargs)
    except NoReverseMatch:
        return None


def _compare_url(run: Run) -> str | None:
    base = _reverse_or_none("runs:compare")
    if base is None:
        return None
    query = QueryDict(mutable=True)
    query["a"] = run.run_id
    return f"{base}?{query.urlencode()}"
