"""The runs list: filters in the URL, htmx partials, keyset pages, live refresh."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode, urlsplit

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from billing.pricing import format_money
from runs.models import Run
from runs.protocol import ENVIRONMENTS, TERMINAL_STATUSES
from runs.selectors.runs import (
    FilterError,
    RunFilters,
    StatusCounts,
    run_agent_names,
    run_list_page,
    run_status_counts,
)
from studio.tenancy import require_capability

PAGE_SIZE = 50
POLL_TRIGGER = "runs-poll"  # the id of the element that polls while runs are live
RANGES = {"1h": "Last hour", "24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days"}
# Chips always shown, in this order; the others appear when they have runs or are chosen.
MAIN_CHIPS = ("running", "stalled", "succeeded", "failed")
OTHER_CHIPS = (
    "suspended", "queued", "validating", "validation_failed", "cancelled", "timed_out",
)  # fmt: skip
STATUS_WORDS = {
    "queued": "Queued",
    "validating": "Validating",
    "validation_failed": "Validation failed",
    "running": "Running",
    "suspended": "Suspended",
    "stalled": "Stalled",
    "succeeded": "Succeeded",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "timed_out": "Timed out",
}


@dataclass(frozen=True)
class ListQuery:
    """The page's state as the URL carries it, and the RunFilters it stands for."""

    statuses: tuple[str, ...] = ()
    agent: str = ""
    environment: str = ""
    range: str = ""
    since: str = ""
    until: str = ""
    q: str = ""
    sort: str = "started"
    cursor: str = ""
    filters: RunFilters = field(default_factory=RunFilters)

    @classmethod
    def from_params(cls, params: QueryDict) -> "ListQuery":
        """Read the page's parameters; FilterError names the one that cannot be used."""
        statuses = tuple(
            dict.fromkeys(s for value in params.getlist("status") for s in value.split(",") if s)
        )
        range_ = (params.get("range") or "").strip()
        since = (params.get("since") or "").strip()
        until = (params.get("until") or "").strip()
        if range_ in RANGES:
            since, until = range_, ""
        elif range_ not in ("", "custom"):
            raise FilterError(
                f"range: use one of {', '.join(RANGES)} or custom; got {range_[:40]!r}"
            )
        elif since or until:
            range_ = "custom"
        environment = (params.get("environment") or "").strip()
        if environment and environment not in ENVIRONMENTS:
            raise FilterError(
                f"environment: use one of {', '.join(ENVIRONMENTS)}; got {environment[:40]!r}"
            )
        filters = RunFilters.from_params(
            _ParamDict(
                {
                    "status": list(statuses),
                    "agent": params.get("agent") or "",
                    "environment": environment,
                    "since": since,
                    "until": until,
                    "q": params.get("q") or "",
                    "sort": params.get("sort") or "started",
                }
            )
        )
        if filters.since and filters.until and filters.until <= filters.since:
            raise FilterError("until: must be later than since")
        return cls(
            statuses=statuses,
            agent=filters.agent,
            environment=environment,
            range=range_,
            since=since if range_ == "custom" else "",
            until=until,
            q=filters.q,
            sort=filters.sort,
            cursor=(params.get("cursor") or "").strip(),
            filters=filters,
        )

    @property
    def active(self) -> bool:
        """Whether anything narrows the list (the sort does not)."""
        return bool(self.statuses or self.agent or self.environment or self.range or self.q)

    def url(self, **changes) -> str:
        """This page's URL with `changes`, empty and default values left out."""
        values = {
            "status": ",".join(self.statuses),
            "agent": self.agent,
            "environment": self.environment,
            "range": self.range,
            "since": self.since,
            "until": self.until,
            "q": self.q,
            "sort": "" if self.sort == "started" else self.sort,
        }
        values.update(changes)
        if values.get("sort") == "started":
            values["sort"] = ""
        query = urlencode({key: value for key, value in values.items() if value})
        base = reverse("runs:list")
        return f"{base}?{query}" if query else base

    def status_url(self, status: str) -> str:
        """A chip's link: show only this status, or show all again if it is the one shown."""
        return self.url(status="" if self.statuses == (status,) else status)


class _ParamDict(dict):
    """The small part of QueryDict that RunFilters.from_params reads."""

    def getlist(self, key: str) -> list[str]:
        value = self.get(key)
        return value if isinstance(value, list) else [value] if value else []


@dataclass(frozen=True)
class Chip:
    status: str
    label: str
    count: int
    url: str
    active: bool


@dataclass(frozen=True)
class RunRow:
    run: Run
    href: str
    live: bool
    status_word: str
    duration: str
    tokens: str
    tokens_title: str
    cost: str
    cost_title: str
    revenue: list[tuple[str, str]]
    problem: str
    problem_title: str


@require_GET
@require_capability("view_runs")
@vary_on_headers("HX-Request")
def run_list(request: HttpRequest) -> HttpResponse:
    partial = bool(request.htmx) and not request.htmx.history_restore_request
    context: dict = {"ranges": RANGES, "environments": ENVIRONMENTS}
    try:
        query = ListQuery.from_params(request.GET)
        page = run_list_page(
            project=request.project,
            filters=query.filters,
            cursor=query.cursor or None,
            limit=PAGE_SIZE,
        )
    except FilterError as error:
        context.update(error=str(error), query=_query_for_form(request.GET))
        if not partial:
            context["agents"] = run_agent_names(project=request.project)
        template = "runs/run_list.html#results" if partial else "runs/run_list.html"
        return render(request, template, context, status=400)

    now = timezone.now()
    rows = [_row(run, now) for run in page.runs]
    next_url = query.url(cursor=page.next_cursor) if page.next_cursor else ""
    context.update(query=query, rows=rows, next_url=next_url)
    if partial and query.cursor:
        return render(request, "runs/run_list.html#more", context)

    first_page = not query.cursor
    counts = run_status_counts(project=request.project, filters=query.filters)
    context.update(
        chips=_chips(query, counts),
        counts=counts,
        counts_window=_window_words(counts),
        live=first_page and any(row.live for row in rows),
        poll_url=query.url(),
        all_url=query.url(status=""),
        sort_started_url=query.url(sort="started"),
        sort_duration_url=query.url(sort="duration"),
        onboarding=not rows and not query.active and first_page,
    )
    if partial:
        response = render(request, "runs/run_list.html#results", context)
        if request.htmx.trigger != POLL_TRIGGER and _differs(request, query.url()):
            push_url(response, query.url())
        return response
    context["agents"] = run_agent_names(project=request.project)
    return render(request, "runs/run_list.html", context)


def _query_for_form(params: QueryDict) -> ListQuery:
    """The values the user typed, to show them again beside the error they caused."""
    return ListQuery(
        agent=(params.get("agent") or "")[:200],
        environment=params.get("environment") or "",
        range=params.get("range") or ("custom" if params.get("since") else ""),
        since=params.get("since") or "",
        until=params.get("until") or "",
        q=(params.get("q") or "")[:200],
    )


def _differs(request: HttpRequest, url: str) -> bool:
    current = urlsplit(request.htmx.current_url or "")
    here = current.path + (f"?{current.query}" if current.query else "")
    return here != url


def _chips(query: ListQuery, counts: StatusCounts) -> list[Chip]:
    chosen = set(query.statuses)
    statuses = [*MAIN_CHIPS]
    statuses += [s for s in OTHER_CHIPS if counts.by_status.get(s) or s in chosen]
    return [
        Chip(
            status=status,
            label=STATUS_WORDS[status],
            count=counts.stalled if status == "stalled" else counts.by_status.get(status, 0),
            url=query.status_url(status),
            active=status in chosen,
        )
        for status in statuses
    ]


def _window_words(counts: StatusCounts) -> str:
    if counts.window_defaulted and counts.until is None:
        return "Counts cover the last 7 days (7d); pick a time range to count over another."
    until = f" to {counts.until:%Y-%m-%d %H:%M} UTC" if counts.until else ""
    return f"Counts cover runs started from {counts.since:%Y-%m-%d %H:%M} UTC{until}."


# Cells ------------------------------------------------------------------------------------


def run_href(run_id: str) -> str:
    """The run's detail page, for any run id (runs/converters.py)."""
    return reverse("runs:detail", args=[run_id])


def _row(run: Run, now: datetime) -> RunRow:
    live = run.status not in TERMINAL_STATUSES
    elapsed_ms = run.duration_ms
    if elapsed_ms is None and live:
        elapsed_ms = max((now - run.started_at).total_seconds() * 1000, 0)
    problem, problem_title = _problem(run)
    tokens, tokens_title = _tokens(run)
    return RunRow(
        run=run,
        href=run_href(run.run_id),
        live=live,
        status_word=STATUS_WORDS.get(run.status, run.status).lower(),
        duration=_duration(elapsed_ms),
        tokens=tokens,
        tokens_title=tokens_title,
        cost=_cost(run),
        cost_title=_cost_title(run),
        revenue=_revenue(run.revenue),
        problem=problem,
        problem_title=problem_title,
    )


def _duration(ms: float | None) -> str:
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} d {hours % 24} h"


def _compact(number: int) -> str:
    if number < 10_000:
        return f"{number:,}"
    if number < 1_000_000:
        return f"{number / 1000:.1f}k".replace(".0k", "k")
    return f"{number / 1_000_000:.1f}M".replace(".0M", "M")


def _tokens(run: Run) -> tuple[str, str]:
    """Reported usage (input, output and cache), else the streamed tokens counted."""
    total = run.input_tokens + run.output_tokens + run.cache_read_tokens + run.cache_write_tokens
    if not total:
        if run.token_count:
            return _compact(run.token_count), f"{run.token_count:,} streamed, no usage reported"
        return "", ""
    parts = [f"{run.input_tokens:,} in", f"{run.output_tokens:,} out"]
    if run.cache_read_tokens:
        parts.append(f"{run.cache_read_tokens:,} cache read")
    if run.cache_write_tokens:
        parts.append(f"{run.cache_write_tokens:,} cache write")
    return _compact(total), " · ".join(parts)


def _cost(run: Run) -> str:
    """USD, aligned: 2 decimals from a dollar, 4 below it (run costs are often cents)."""
    if not run.cost and not run.unpriced_calls:
        return ""
    if run.cost >= 1:
        amount = f"{run.cost:,.2f}"
    elif run.cost and run.cost < Decimal("0.0001"):
        amount = "<0.0001"
    else:
        amount = f"{run.cost:.4f}"
    return f"≥ {amount}" if run.unpriced_calls else amount


def _cost_title(run: Run) -> str:
    exact = format_money(run.cost, "USD")
    if not run.unpriced_calls:
        calls = f"{run.llm_calls} LLM call{'s' if run.llm_calls != 1 else ''}"
        return f"{exact} for {calls}" if run.cost else ""
    calls = f"{run.unpriced_calls} call{'s' if run.unpriced_calls != 1 else ''}"
    return f"At least {exact}: {calls} had no price"


def _revenue(revenue: dict) -> list[tuple[str, str]]:
    amounts = []
    for currency, value in sorted((revenue or {}).items()):
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            continue
        if amount:
            amounts.append((format_money(amount, currency).removesuffix(f" {currency}"), currency))
    return amounts


def _problem(run: Run) -> tuple[str, str]:
    """One line on what went wrong: the error, else a non-success status's message."""
    if run.error_type or run.error_message:
        first_line = next((line for line in run.error_message.splitlines() if line.strip()), "")
        text = f"{run.error_type}: {first_line}" if run.error_type else first_line
        return text[:300], run.error_message[:1000]
    if run.status_message and run.status != "succeeded":
        return run.status_message[:300], run.status_message[:1000]
    return "", ""
