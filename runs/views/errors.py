"""Error groups: the list with a 14-day trend each, and one group's page."""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from runs import charts
from runs.models import ErrorGroup, Run
from runs.protocol import TERMINAL_STATUSES
from runs.selectors.errors import (
    ERROR_KINDS,
    ErrorFilters,
    ErrorRun,
    error_group_daily,
    error_group_get,
    error_group_runs,
    error_groups_page,
    error_trends,
)
from runs.selectors.runs import FilterError, run_agent_names
from runs.views.runs import STATUS_WORDS, run_href
from studio.tenancy import require_capability

PAGE_SIZE = 50
TREND_DAYS = 14
CHART_DAYS = 30
RUNS_PER_PAGE = 50


@dataclass(frozen=True)
class GroupRow:
    group: ErrorGroup
    error_type: str
    message: str
    spark: list[charts.SparkBar]
    trend_total: int


def _url(filters: ErrorFilters, **changes: str) -> str:
    values = {"kind": filters.kind, "agent": filters.agent, "q": filters.q, "sort": filters.sort}
    values.update(changes)
    if values.get("sort") == "last_seen":
        values["sort"] = ""
    query = urlencode({key: value for key, value in values.items() if value})
    base = reverse("runs:errors")
    return f"{base}?{query}" if query else base


@require_GET
@require_capability("view_runs")
@vary_on_headers("HX-Request")
def error_list(request: HttpRequest) -> HttpResponse:
    partial = bool(request.htmx) and not request.htmx.history_restore_request
    cursor = (request.GET.get("cursor") or "").strip()
    context: dict = {}
    try:
        filters = ErrorFilters.from_params(request.GET)
        page = error_groups_page(
            project=request.project, filters=filters, cursor=cursor or None, limit=PAGE_SIZE
        )
    except FilterError as error:
        context.update(error=str(error), filters=_filters_for_form(request.GET))
        if not partial:
            context["agents"] = run_agent_names(project=request.project)
        template = "runs/error_list.html#results" if partial else "runs/error_list.html"
        return render(request, template, context, status=400)

    today = timezone.now().date()
    trends = error_trends(
        project=request.project,
        group_ids=[group.pk for group in page.groups],
        days=TREND_DAYS,
        today=today,
    )
    labels = [f"{today - timedelta(days=TREND_DAYS - 1 - n):%b %-d}" for n in range(TREND_DAYS)]
    rows = [_group_row(group, trends[group.pk], labels) for group in page.groups]
    context.update(
        filters=filters,
        rows=rows,
        next_url=_url(filters, cursor=page.next_cursor) if page.next_cursor else "",
        onboarding=not rows and not filters.active and not cursor,
        sort_last_seen_url=_url(filters, sort="last_seen"),
        sort_count_url=_url(filters, sort="count"),
        kind_chips=[
            (kind, label, _url(filters, kind=kind), filters.kind == kind)
            for kind, label in [("", "All kinds"), *ERROR_KINDS.items()]
        ],
    )
    if partial and cursor:
        return render(request, "runs/error_list.html#more", context)
    if partial:
        response = render(request, "runs/error_list.html#results", context)
        if _differs(request, _url(filters)):
            push_url(response, _url(filters))
        return response
    context["agents"] = run_agent_names(project=request.project)
    return render(request, "runs/error_list.html", context)


def _filters_for_form(params) -> ErrorFilters:
    return ErrorFilters(agent=(params.get("agent") or "")[:200], q=(params.get("q") or "")[:200])


def _differs(request: HttpRequest, url: str) -> bool:
    current = urlsplit(request.htmx.current_url or "")
    return current.path + (f"?{current.query}" if current.query else "") != url


def _group_row(group: ErrorGroup, trend: list[int], labels: list[str]) -> GroupRow:
    error_type, _, message = group.title.partition(": ")
    return GroupRow(
        group=group,
        error_type=error_type,
        message=message,
        spark=charts.spark_bars(
            trend, labels=[f"{label}: {n:,}" for label, n in zip(labels, trend, strict=True)]
        ),
        trend_total=sum(trend),
    )


# One group ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TracebackLine:
    kind: str  # head, frame, code, error, other; frame and code may end in --lib
    text: str


_FRAME = re.compile(r'^\s*File "(?P<path>[^"]*)", line \d+')
_LIBRARY_PATH = re.compile(r"(site-packages|dist-packages|/lib/python\d|<frozen |\\lib\\)")


def traceback_lines(traceback: str) -> list[TracebackLine]:
    """Label a Python traceback's lines so frames from libraries can be dimmed.

    Anything else (another language's stack) comes back as plain lines."""
    lines: list[TracebackLine] = []
    library = False
    for text in traceback.splitlines():
        frame = _FRAME.match(text)
        if frame:
            library = bool(_LIBRARY_PATH.search(frame.group("path")))
            lines.append(TracebackLine("frame--lib" if library else "frame", text))
        elif text.startswith("Traceback (") or text.startswith("During handling"):
            lines.append(TracebackLine("head", text))
        elif text.startswith((" ", "\t")) and lines and lines[-1].kind.startswith("frame"):
            lines.append(TracebackLine("code--lib" if library else "code", text))
        elif text.strip() and not text.startswith((" ", "\t")):
            lines.append(TracebackLine("error", text))
        else:
            lines.append(TracebackLine("other", text))
    return lines


@dataclass(frozen=True)
class RunItem:
    run: Run
    href: str
    last_seen: datetime
    occurrences: int
    live: bool
    status_word: str


def _run_item(item: ErrorRun) -> RunItem:
    status = item.run.status
    return RunItem(
        run=item.run,
        href=run_href(item.run.run_id),
        last_seen=item.last_seen,
        occurrences=item.occurrences,
        live=status not in TERMINAL_STATUSES,
        status_word=STATUS_WORDS.get(status, status).lower(),
    )


@require_GET
@require_capability("view_runs")
@vary_on_headers("HX-Request")
def error_detail(request: HttpRequest, group_id: int) -> HttpResponse:
    group = error_group_get(project=request.project, group_id=group_id)
    if group is None:
        raise Http404("No such error group in this project")
    cursor = (request.GET.get("cursor") or "").strip()
    try:
        runs = error_group_runs(
            project=request.project, group=group, cursor=cursor or None, limit=RUNS_PER_PAGE
        )
    except FilterError as error:
        return render(
            request, "runs/error_detail.html", {"group": group, "error": str(error)}, status=400
        )
    base = reverse("runs:error_detail", args=[group.pk])
    context = {
        "group": group,
        "runs": [_run_item(item) for item in runs.runs],
        "next_url": f"{base}?{urlencode({'cursor': runs.next_cursor})}" if runs.next_cursor else "",
    }
    if request.htmx and cursor and not request.htmx.history_restore_request:
        return render(request, "runs/error_detail.html#more", context)
    daily = error_group_daily(project=request.project, group=group, days=CHART_DAYS)
    error_type, _, message = group.title.partition(": ")
    lines = traceback_lines(group.traceback)
    context.update(
        error_type=error_type,
        title_message=message,
        traceback=lines,
        has_library_frames=any(line.kind.endswith("--lib") for line in lines),
        daily_total=sum(count for _, count in daily),
        figure=charts.daily_bar_figure(
            [day for day, _ in daily],
            [count for _, count in daily],
            name="events",
            color="var(--red)" if group.kind == "run" else "var(--kind-tool)",
        ),
    )
    return render(request, "runs/error_detail.html", context)
