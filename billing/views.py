"""Usage, revenue (and its CSV export) and the price tables (models and tools).

Each page renders whole, or for an htmx request just the named partial of its
template. Capabilities are checked by `require_capability` on every view, pages,
partials and exports alike.
"""

import csv
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from billing import charts
from billing.forms import PriceForm, ToolPriceForm
from billing.price_audit import audit_price_added, audit_price_changed, audit_tool_price
from billing.pricing import exact_amount, normalize_model
from billing.selectors import (
    CSV_HEADER,
    PERIODS,
    REVENUE_KINDS,
    REVENUE_RANGES,
    USAGE_GROUPS,
    USAGE_RANGES,
    CurrencySection,
    FilterError,
    RevenueFilters,
    ToolUsageReport,
    UsageParams,
    UsageReport,
    filled_periods,
    price_get,
    price_table,
    revenue_events_page,
    revenue_events_rows,
    revenue_summary,
    tool_days,
    tool_price_rows,
    tool_usage_exists,
    tool_usage_report,
    unpriced_tools,
    usage_exists,
    usage_report,
)
from billing.services import (
    PriceError,
    price_create,
    price_update,
    tool_price_create,
    tool_price_delete,
)
from studio.tenancy import can, require_capability

GROUP_LABELS = {"model": "Model", "agent": "Agent", "environment": "Environment"}
RANGE_LABELS = {"24h": "24 hours", "7d": "7 days", "30d": "30 days", "90d": "90 days"}

# ── Usage ─────────────────────────────────────────────────────────────────────────


@require_GET
@vary_on_headers("HX-Request")
@require_capability("view_usage")
def usage(request: HttpRequest) -> HttpResponse:
    params = UsageParams.from_params(request.GET)
    report = usage_report(project=request.project, params=params)
    first_day, last_day = tool_days(report.start, report.end)
    tools = tool_usage_report(project=request.project, first_day=first_day, last_day=last_day)
    context = {
        "report": report,
        "params": params,
        "tools": tools,
        "tools_ever": not tools.is_empty or tool_usage_exists(project=request.project),
        "charts": _usage_charts(report, tools),
        "never_used": report.is_empty and not usage_exists(project=request.project),
        "ranges": [(key, _usage_query(params, range=key)) for key in USAGE_RANGES],
        "groups": [
            (key, GROUP_LABELS[key], _usage_query(params, group=key)) for key in USAGE_GROUPS
        ],
        "group_label": GROUP_LABELS[params.group],
        "runs_group_label": GROUP_LABELS[params.runs_group],
        "range_label": RANGE_LABELS[params.range],
    }
    template = "billing/usage.html#body" if request.htmx else "billing/usage.html"
    return render(request, template, context)


def _usage_query(params: UsageParams, **changes: str) -> str:
    values = {"range": params.range, "group": params.group, **changes}
    return "?" + urlencode(values)


def _usage_charts(report: UsageReport, tools: ToolUsageReport) -> dict:
    order = [row.name for row in report.token_rows]  # one colour per group in both charts
    return {
        "tool_uses": charts.stacked_bars(
            x=tools.days, series=tools.uses, unit="uses", order=[row.name for row in tools.tools]
        ),
        "cost": charts.stacked_bars(x=report.buckets, series=report.cost, unit="usd", order=order),
        "tokens": charts.stacked_bars(
            x=report.buckets, series=report.tokens, unit="tokens", order=order
        ),
        "runs": charts.runs_and_failures(
            x=report.buckets,
            runs=report.runs,
            order=order + [row.name for row in report.run_rows],
            failures=report.failures,
            finished=report.finished,
        ),
        "latency": charts.latency_lines(
            x=report.buckets,
            percentiles={f"p{round(q * 100)}": values for q, values in report.latency.items()},
        ),
    }


# ── Revenue ───────────────────────────────────────────────────────────────────────


@require_GET
@vary_on_headers("HX-Request")
@require_capability("view_revenue")
def revenue(request: HttpRequest) -> HttpResponse:
    try:
        filters = RevenueFilters.from_params(request.GET)
        cursor = request.GET.get("cursor") or None
        page = revenue_events_page(project=request.project, filters=filters, cursor=cursor)
    except FilterError as error:
        return _revenue_filter_error(request, error)
    context = {"filters": filters, "page": page, "query": urlencode(filters.as_params())}
    if request.htmx and cursor:
        return render(request, "billing/revenue.html#more", context)
    summary = revenue_summary(project=request.project, filters=filters)
    context |= {
        "summary": summary,
        "sections": [(section, _revenue_chart(section, filters)) for section in summary.sections],
        "ranges": [
            (key, "?" + urlencode(filters.as_params(range=key, **{"from": "", "to": ""})))
            for key in REVENUE_RANGES
        ],
        "kinds": REVENUE_KINDS,
        "periods": PERIODS,
    }
    if not request.htmx:
        return render(request, "billing/revenue.html", context)
    # The form sends every field, empty ones too: push the tidy URL of these filters.
    response = render(request, "billing/revenue.html#body", context)
    return push_url(
        response, f"{request.path}?{context['query']}" if context["query"] else request.path
    )


def _revenue_chart(section: CurrencySection, filters: RevenueFilters) -> dict:
    periods = filled_periods(section.periods, filters=filters, today=timezone.now().date())
    return charts.revenue_bars(
        x=[row.start for row in periods],
        gross=[row.sums.gross for row in periods],
        refunds_and_credits=[row.sums.refunds_and_credits for row in periods],
        net=[row.sums.net for row in periods],
        currency=section.currency,
    )


def _revenue_filter_error(request: HttpRequest, error: FilterError) -> HttpResponse:
    context = {"filter_error": str(error), "filters": RevenueFilters(), "query": ""}
    template = "billing/revenue.html#body" if request.htmx else "billing/revenue.html"
    return render(request, template, context, status=400)


@require_GET
@require_capability("view_revenue")
def revenue_export(request: HttpRequest) -> HttpResponse:
    """The filtered billing events as CSV, streamed: a million rows never sit in memory."""
    try:
        filters = RevenueFilters.from_params(request.GET)
    except FilterError as error:
        return HttpResponse(f"{error}\n", status=400, content_type="text/plain; charset=utf-8")
    rows = revenue_events_rows(project=request.project, filters=filters)
    response = StreamingHttpResponse(_csv_lines(rows), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    filename = f"revenue-{request.project.slug}-{stamp}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


class _Line:
    """A file-like object whose write() hands the line back, for csv.writer."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(rows: Iterable[tuple]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(CSV_HEADER)
    for ts, kind, amount, currency, *texts in rows:
        cells = (_cell(text or "") for text in texts)  # customer, agent, ids
        yield writer.writerow((_utc(ts), kind, exact_amount(amount, currency), currency, *cells))


def _utc(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _cell(text: str) -> str:
    """Text from events, made inert for spreadsheets: a leading = + - @ would start a
    formula, so such a cell gets a leading apostrophe (OWASP's CSV injection advice)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# ── Model prices ──────────────────────────────────────────────────────────────────


@require_http_methods(["GET", "POST"])
@require_capability("view_usage", needs_project=False)
def prices(request: HttpRequest) -> HttpResponse:
    """The price tables; owners add model and tool rows here (POST)."""
    table = price_table(organization=request.org)
    if request.method == "POST":
        if not can(request.role, "edit_prices"):
            return _forbidden(request)
        if request.POST.get("form") == "tool_price":
            return _tool_price_add(request, table)
        form = PriceForm(request.POST)
        if form.is_valid():
            try:
                price = price_create(organization=request.org, data=form.price_data())
            except PriceError as error:
                form.add_error(None, str(error).capitalize() + ".")
            else:
                audit_price_added(actor=request.user, price=price)
                messages.success(request, _saved_message(price, "added"))
                return redirect("billing:prices")
        return _prices_page(request, table, form, status=400)
    return _prices_page(request, table, PriceForm(initial=_add_initial(request, table)))


@require_http_methods(["GET", "POST"])
@require_capability("edit_prices", needs_project=False)
def price_edit(request: HttpRequest, price_id: int) -> HttpResponse:
    price = price_get(organization=request.org, price_id=price_id)
    if price is None:
        raise Http404("No such price row in this organization")
    table = price_table(organization=request.org)
    if request.method == "POST":
        form = PriceForm(request.POST)
        if form.is_valid():
            try:
                saved = price_update(price=price, data=form.price_data())
            except PriceError as error:
                form.add_error(None, str(error).capitalize() + ".")
            else:
                audit_price_changed(actor=request.user, before=price, after=saved)
                price = saved
                messages.success(request, _saved_message(price, "saved"))
                return redirect("billing:prices")
        return _prices_page(request, table, form, editing=price, status=400)
    form = PriceForm(initial=PriceForm.initial_from(price))
    return _prices_page(request, table, form, editing=price)


def _add_initial(request: HttpRequest, table) -> dict:
    """Prefill the add form: from a default being overridden, or an unpriced model."""
    source = request.GET.get("from_default", "")
    default = next((row for row in table.defaults if str(row.pk) == source), None)
    if default is not None:
        initial = PriceForm.initial_from(default)
        initial["effective_from"] = timezone.now().date()
        return initial
    model = request.GET.get("model", "").strip()[:200]
    if model:
        # From the day its first unpriced call was seen, so saving prices all of them.
        seen = next((row for row in table.unpriced if row.model == model), None)
        first = seen.first_seen.astimezone(UTC).date() if seen else timezone.now().date()
        return {"model_pattern": normalize_model(model), "match": "exact", "effective_from": first}
    return {"effective_from": timezone.now().date()}


def _tool_price_add(request: HttpRequest, table) -> HttpResponse:
    tool_form = ToolPriceForm(request.POST)
    if tool_form.is_valid():
        try:
            price = tool_price_create(organization=request.org, data=tool_form.tool_price_data())
        except PriceError as error:
            text = str(error)  # not capitalize(): it would lower-case the tool's name
            tool_form.add_error(None, text[:1].upper() + text[1:] + ".")
        else:
            audit_tool_price(actor=request.user, price=price, action="tool_price.added")
            messages.success(
                request,
                f"Price for {price.tool} from {price.effective_from:%b %-d, %Y} added: "
                "tool cost on the usage and revenue pages uses it now.",
            )
            return redirect(reverse("billing:prices") + "#tools")
    form = PriceForm(initial={"effective_from": timezone.now().date()})
    return _prices_page(request, table, form, tool_form=tool_form, status=400)


@require_POST
@require_capability("edit_prices", needs_project=False)
def tool_price_remove(request: HttpRequest, price_id: int) -> HttpResponse:
    price = tool_price_delete(organization=request.org, price_id=price_id)
    if price is None:
        raise Http404("No such tool price in this organization")
    audit_tool_price(actor=request.user, price=price, action="tool_price.deleted")
    messages.success(
        request,
        f"Price for {price.tool} from {price.effective_from:%b %-d, %Y} deleted: its days "
        "take the tool's earlier price, or are unpriced if it has none.",
    )
    return redirect(reverse("billing:prices") + "#tools")


def _tool_add_initial(request: HttpRequest, unpriced) -> dict:
    """Prefill the tool form: for an unpriced tool, from its first unpriced day, so
    saving prices all of its uses."""
    initial = {"currency": "USD", "effective_from": timezone.now().date()}
    tool = request.GET.get("tool", "").strip()[:200]
    if tool:
        seen = next((row for row in unpriced if row.tool == tool), None)
        initial |= {
            "tool": tool,
            "effective_from": seen.first_day if seen else initial["effective_from"],
        }
    return initial


def _prices_page(
    request: HttpRequest,
    table,
    form: PriceForm,
    *,
    tool_form: ToolPriceForm | None = None,
    editing=None,
    status: int = 200,
) -> HttpResponse:
    unpriced = unpriced_tools(organization=request.org)
    context = {
        "table": table,
        "form": form,
        "tool_prices": tool_price_rows(organization=request.org, today=timezone.now().date()),
        "unpriced_tools": unpriced,
        "tool_form": tool_form or ToolPriceForm(initial=_tool_add_initial(request, unpriced)),
        "editing": editing,
        "can_edit": can(request.role, "edit_prices"),
        "today": timezone.now().date(),
    }
    return render(request, "billing/prices.html", context, status=status)


def _saved_message(price, verb: str) -> str:
    return (
        f"Price for {price.model_pattern} from {price.effective_from:%b %-d, %Y} {verb}. "
        "Calls from that day on are being re-priced in the background; usage and run "
        "costs update within a minute."
    )


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "studio/forbidden.html", {"capability": "edit_prices"}, status=403)
