"""The debug checklist of a failed run, two runs side by side, and ingest health.

The checklist is a partial the run detail page loads with hx-get; opened directly it
renders as a page of its own. Links into the run detail page use its URL state:
`tab=logs&page=N#L<line>` for a log line, `item=<kind>:<key>` for a timeline item.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from billing.pricing import format_money
from runs.checklist import FAILED_STATUSES, Check, Checklist, Link, run_checklist
from runs.compare import (
    RUNTIME_KEYS,
    Comparison,
    Step,
    code_parts,
    compare_candidates,
    run_comparison,
    runtime_differences,
)
from runs.ingest.inbox import batch_retry
from runs.models import IngestBatch, Run
from runs.selectors.detail import LOG_PAGE
from runs.selectors.health import batch_get, ingest_health
from runs.timeline import format_ms
from studio.tenancy import can, require_capability

# ── URLs into the run detail page and the compare page ───────────────────────


def detail_url(
    run_id: str, *, tab: str = "", line: int | None = None, item: str = "", base: str | None = None
) -> str:
    """The run detail page, with the tab, log page and line, or timeline item to show.
    `base` "" gives the query alone, for a page that is the run's own (a shared one)."""
    if base is None:
        base = reverse("runs:detail", args=[run_id])
    query = QueryDict(mutable=True)
    if tab:
        query["tab"] = tab
    if line:
        query["page"] = str((line - 1) // LOG_PAGE + 1)
    if item:
        query["item"] = item
    anchor = f"#L{line}" if line else ""
    return f"{base}?{query.urlencode()}{anchor}" if query else f"{base}{anchor}"


def compare_url(a: str, b: str = "") -> str:
    query = QueryDict(mutable=True)
    query["a"] = a
    if b:
        query["b"] = b
    return f"{reverse('runs:compare')}?{query.urlencode()}"


def checklist_url(run: Run) -> str:
    """The debug checklist of a failed run; "" for other runs (it has nothing to say)."""
    if run.status not in FAILED_STATUSES:
        return ""
    return reverse("runs:checklist", args=[run.run_id])


def link_url(
    run_id: str, link: Link | None, *, to_run: Callable[..., str] = detail_url, others: bool = True
) -> str:
    """Where a check's link goes. A comparison shows the other run first (the one that
    worked, in check 1 and 5), as the divergence line reads; with `others` False
    (a shared page) there is no comparison to go to."""
    if link is None:
        return ""
    if link.page == "compare":
        return compare_url(link.other_run_id, run_id) if others else ""
    return to_run(run_id, tab=link.tab, line=link.line, item=link.item)


# ── Debug checklist ──────────────────────────────────────────────────────────

STATE_WORDS = {"pass": "OK", "fail": "Problem found", "skip": "Not applicable"}


@require_GET
@require_capability("view_runs")
@vary_on_headers("HX-Request")
def checklist(request: HttpRequest, run_id: str) -> HttpResponse:
    found = run_checklist(project=request.project, run_id=run_id)
    if found is None:
        raise Http404("No run with this id in this project.")
    template = "runs/_checklist.html"
    if request.htmx:
        template += "#checklist"
    return render(request, template, checklist_context(found))


def checklist_context(
    found: Checklist, *, to_run: Callable[..., str] = detail_url, shared: bool = False
) -> dict:
    """The checklist's context; `to_run` makes links into the run's page, and a
    `shared` checklist links to nothing else of the organization."""
    run = found.run
    rows = [_row(run.run_id, check, to_run, not shared) for check in found.checks]
    runtime = []
    if found.reference is not None:
        runtime = [
            diff
            for diff in runtime_differences(run.runtime, found.reference.runtime)
            if diff.path in RUNTIME_KEYS
        ]
    window = found.window
    return {
        "checklist": found,
        "run": run,
        "rows": rows,
        "failed_statuses": FAILED_STATUSES,
        "counts": {
            state: sum(row["check"].state == state for row in rows) for state in STATE_WORDS
        },
        "detail_url": to_run(run.run_id),
        "compare_url": "" if shared else compare_url(run.run_id),
        "local_runs": []
        if shared
        else [{"run": brief, "url": detail_url(brief.run_id)} for brief in found.local_runs],
        "reference": replace(found.reference, run_id="")
        if shared and found.reference
        else found.reference,
        "runtime": runtime,
        "log_lines": [
            {"line": line, "url": to_run(run.run_id, tab="logs", line=line.number)}
            for line in (window.lines if window else ())
        ],
        "first_error_outside": window is not None
        and window.first_error is not None
        and all(line.number != window.first_error.number for line in window.lines),
        "first_error_url": to_run(run.run_id, tab="logs", line=window.first_error.number)
        if window and window.first_error
        else "",
    }


def _row(run_id: str, check: Check, to_run: Callable[..., str], others: bool) -> dict:
    url = link_url(run_id, check.link, to_run=to_run, others=others)
    return {"check": check, "url": url, "word": STATE_WORDS[check.state]}


# ── Compare two runs ─────────────────────────────────────────────────────────


@require_GET
@require_capability("view_runs")
@vary_on_headers("HX-Request")
def compare(request: HttpRequest) -> HttpResponse:
    a = (request.GET.get("a") or "").strip()[:128]
    b = (request.GET.get("b") or "").strip()[:128]
    if not a:
        return render(request, "runs/compare.html", {"mode": "empty", "a": "", "b": b})
    if not b:
        candidates = compare_candidates(project=request.project, run_id=a)
        if candidates is None:
            raise Http404("No run with this id in this project.")
        context = {
            "mode": "pick",
            "a": a,
            "candidates": candidates,
            "same_input": [_candidate(a, run) for run in candidates.same_input],
            "same_agent": [_candidate(a, run) for run in candidates.same_agent],
            "a_url": detail_url(a),
            "a_checklist_url": checklist_url(candidates.run),
        }
        return render(request, "runs/compare.html", context)
    comparison = run_comparison(project=request.project, run_id_a=a, run_id_b=b)
    if comparison is None:
        raise Http404("No run with this id in this project.")
    context = {
        "mode": "compare",
        "a": a,
        "b": b,
        "c": comparison,
        "a_url": detail_url(a),
        "b_url": detail_url(b),
        "a_checklist_url": checklist_url(comparison.a),
        "b_checklist_url": checklist_url(comparison.b),
        "swap_url": compare_url(b, a),
        "pick_url": compare_url(a),
        "summary": _summary_rows(comparison.a, comparison.b),
        "divergence_parts": code_parts(comparison.divergence),
        "steps": _step_rows(comparison),
        "inputs_changed": sum(d.state != "same" for d in comparison.inputs),
        "outputs_changed": sum(d.state != "same" for d in comparison.outputs),
        "runtime_changed": sum(d.state == "changed" for d in comparison.runtime),
        "inputs_json": _pretty(comparison.a.inputs) if comparison.same_inputs else "",
    }
    return render(request, "runs/compare.html", context)


def _step_rows(comparison: Comparison) -> list[dict]:
    """The aligned steps with each one's time from its run's start, for the table."""
    diverge = comparison.alignment.divergence

    def side(step: Step | None, run: Run) -> dict | None:
        if step is None:
            return None
        offset = None
        if step.at is not None:
            offset = "+" + format_ms((step.at - run.started_at).total_seconds() * 1000)
        return {"step": step, "offset": offset}

    return [
        {
            "number": row.number,
            "a": side(row.a, comparison.a),
            "b": side(row.b, comparison.b),
            "same": row.same,
            "diverge": diverge is not None and row.number == diverge.number,
        }
        for row in comparison.alignment.rows
    ]


def _pretty(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)[:60_000]


def _candidate(a: str, run: Run) -> dict:
    return {
        "run": run,
        "url": compare_url(a, run.run_id),
        "duration": format_ms(run.duration_ms) if run.duration_ms is not None else "—",
    }


_SUMMARY_FIELDS: tuple[tuple[str, Callable[[Run], str]], ...] = (
    ("Status", lambda run: run.status),
    ("Environment", lambda run: run.environment),
    ("Agent", lambda run: f"{run.agent_name} {run.agent_version}".strip() or "—"),
    ("Duration", lambda run: format_ms(run.duration_ms) or "—"),
    ("Tool calls", lambda run: f"{run.tool_calls:,} ({run.tool_errors:,} failed)"),
    ("LLM calls", lambda run: f"{run.llm_calls:,}"),
    ("Tokens", lambda run: f"{run.input_tokens:,} in · {run.output_tokens:,} out"),
    ("Cost", lambda run: _cost(run)),
    ("Error", lambda run: f"{run.error_type}: {run.error_message}" if run.error_type else "—"),
)


def _cost(run: Run) -> str:
    text = format_money(run.cost or Decimal(0), "USD")
    return f"{text} + {run.unpriced_calls} unpriced" if run.unpriced_calls else text


def _summary_rows(a: Run, b: Run) -> list[dict]:
    """Status, duration, tokens and cost side by side; `differs` marks what to look at."""
    rows = []
    for label, value in _SUMMARY_FIELDS:
        left, right = value(a), value(b)
        rows.append({"label": label, "a": left, "b": right, "differs": left != right})
    return rows


# ── Ingest health ────────────────────────────────────────────────────────────


@require_GET
@require_capability("view_runs")
@vary_on_headers("HX-Request")
def health(request: HttpRequest) -> HttpResponse:
    report = ingest_health(project=request.project)
    context = {
        "health": report,
        "can_retry": can(request.role, "retry_batches"),
        "chart": _chart_bars(report),
        "chart_half": report.peak // 2,
        "ingest_url": request.build_absolute_uri(reverse("runs:api_ingest")),
        "max_attempts": settings.BATCH_MAX_ATTEMPTS,
    }
    template = "runs/ingest_health.html"
    if request.htmx:
        template += "#health"
    return render(request, template, context)


def _chart_bars(report) -> list[dict]:
    """Bars for the 24 hours, heights in % of the busiest hour."""
    peak = report.peak or 1
    return [
        {
            "bucket": bucket,
            "accepted_pct": round(bucket.accepted * 100 / peak, 1),
            "rejected_pct": round(bucket.rejected * 100 / peak, 1),
        }
        for bucket in report.hours
    ]


@require_POST
@require_capability("retry_batches")
def batch_retry_view(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = batch_get(project=request.project, batch_id=batch_id)
    if batch is None:
        raise Http404("No batch with this id in this project.")
    if batch.status != IngestBatch.Status.FAILED:
        messages.info(
            request, f"Batch {batch.pk} is {batch.status}: only failed batches are retried."
        )
    else:
        batch_retry(batch)
        messages.success(
            request,
            f"Batch {batch.pk} is queued again: {batch.event_count:,} events will be applied.",
        )
    return redirect("runs:health")
