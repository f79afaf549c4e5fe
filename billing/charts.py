"""Plotly figures for the usage and revenue pages, as plain dicts.

Pure: no Django, no database. Colours are CSS custom properties written as
"var(--name)"; `static/js/billing.js` swaps each for its computed value before
plotting, so the charts follow the stylesheet in the light and the dark theme.

This is the one place where money becomes a float: Plotly plots numbers. Tables,
totals and exports keep the Decimal.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal

from billing.currencies import display_places

MAX_SERIES = 7  # more groups than this are summed into "Other"
OTHER = "Other"
SERIES_COLOURS = tuple(f"var(--series-{i})" for i in range(1, MAX_SERIES + 1))
OTHER_COLOUR = "var(--series-other)"

Number = int | float | Decimal


def stacked_bars(
    *,
    x: Sequence[datetime | date],
    series: Mapping[str, Sequence[Number]],
    unit: str,
    order: Sequence[str] = (),
) -> dict:
    """One bar per time bucket, stacked by group (the largest groups first).

    `unit` is "usd" (money), "tokens", "runs" or "uses" (tool uses); it picks the
    number format. `order`
    ranks the groups (so two charts of the same groups give each the same colour);
    by default the largest total comes first.
    """
    traces = [
        {
            "type": "bar",
            "name": _label(name),
            "x": _x(x),
            "y": [_plot(v) for v in values],
            "marker": {"color": colour, "line": {"width": 0}},
            "hovertemplate": f"%{{y:{_FORMATS[unit]}}}<extra>{_label(name)}</extra>",
        }
        for (name, values), colour in _top(series, order)
    ]
    layout = _layout(unit=unit)
    layout["barmode"] = "stack"
    layout["bargap"] = 0.25
    peak = max((sum(column) for column in zip(*series.values(), strict=True)), default=0)
    if unit == "usd":
        layout["yaxis"]["tickformat"] = _money_ticks(peak)
    elif peak <= 5:
        layout["yaxis"]["dtick"] = 1  # whole runs or tokens, not 0.2 of one
    return {"data": traces, "layout": layout}


def _money_ticks(peak: Number) -> str:
    """Enough decimals that a small cost's axis does not read $0, $0, $0.01."""
    places = 2
    while places < 6 and 0 < peak < Decimal(10) ** (1 - places):
        places += 1
    return f"$,.{places}~f"


def runs_and_failures(
    *,
    x: Sequence[datetime | date],
    runs: Mapping[str, Sequence[int]],
    failures: Sequence[int],
    finished: Sequence[int],
    order: Sequence[str] = (),
) -> dict:
    """Runs per bucket stacked by group, and the failure rate (failed / finished) as a
    line on a right-hand axis. A bucket where nothing finished has no rate (a gap)."""
    figure = stacked_bars(x=x, series=runs, unit="runs", order=order)
    rate = [f / n * 100 if n else None for f, n in zip(failures, finished, strict=True)]
    figure["data"].append(
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "Failure rate",
            "x": _x(x),
            "y": rate,
            "yaxis": "y2",
            "connectgaps": False,
            "line": {"color": "var(--red)", "width": 2},
            "marker": {"size": 4, "color": "var(--red)"},
            "hovertemplate": "%{y:.1f}%<extra>Failure rate</extra>",
        }
    )
    figure["layout"]["yaxis2"] = {
        **_axis(),
        "overlaying": "y",
        "side": "right",
        "ticksuffix": "%",
        "range": [0, 100],
        "tickmode": "linear",
        "dtick": 25,
        "showgrid": False,
    }
    return figure


def latency_lines(
    *, x: Sequence[datetime | date], percentiles: Mapping[str, Sequence[float | None]]
) -> dict:
    """One line per percentile ("p50", "p95"), in seconds; gaps where no run finished."""
    colours = {"p50": "var(--accent)", "p95": "var(--amber)"}
    traces = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": name,
            "x": _x(x),
            "y": [None if v is None else v / 1000 for v in values],
            "connectgaps": False,
            "line": {"color": colours.get(name, SERIES_COLOURS[0]), "width": 2},
            "marker": {"size": 4, "color": colours.get(name, SERIES_COLOURS[0])},
            "hovertemplate": f"%{{y:,.2f}} s<extra>{_label(name)}</extra>",
        }
        for name, values in percentiles.items()
    ]
    return {"data": traces, "layout": _layout(unit="seconds")}


def revenue_bars(
    *,
    x: Sequence[date],
    gross: Sequence[Decimal],
    refunds_and_credits: Sequence[Decimal],
    net: Sequence[Decimal],
    currency: str,
) -> dict:
    """Gross up, refunds and credits down, net as a line: one currency only."""
    fmt = f"%{{y:,.{display_places(currency)}f}} {_label(currency)}"
    days = _x(x)
    traces = [
        _money_bar("Gross", days, gross, "var(--green)", fmt),
        _money_bar("Refunds + credits", days, [-v for v in refunds_and_credits], "var(--red)", fmt),
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "Net",
            "x": days,
            "y": [_plot(v) for v in net],
            "line": {"color": "var(--accent)", "width": 2},
            "marker": {"size": 5, "color": "var(--accent)"},
            "hovertemplate": f"{fmt}<extra>Net</extra>",
        },
    ]
    layout = _layout(unit="money")
    layout["barmode"] = "relative"
    layout["bargap"] = 0.3
    layout["yaxis"]["ticksuffix"] = f" {currency}" if len(currency) == 3 else ""
    return {"data": traces, "layout": layout}


def _money_bar(name: str, x: list[str], values: Sequence[Decimal], colour: str, fmt: str) -> dict:
    return {
        "type": "bar",
        "name": name,
        "x": x,
        "y": [_plot(v) for v in values],
        "marker": {"color": colour, "opacity": 0.85, "line": {"width": 0}},
        "hovertemplate": f"{fmt}<extra>{name}</extra>",
    }


_FORMATS = {
    "usd": "$,.4f", "tokens": ",d", "runs": ",d", "uses": ",d", "money": ",.2f",
    "seconds": ",.2f",
}  # fmt: skip
_TICK_FORMATS = {
    "usd": "$,.2~f", "tokens": "~s", "runs": ",d", "uses": "~s", "money": ",.2~f",
    "seconds": ",.1~f",
}  # fmt: skip


def _top(
    series: Mapping[str, Sequence[Number]], order: Sequence[str] = ()
) -> list[tuple[tuple[str, list], str]]:
    """The first MAX_SERIES groups (by `order`, else the largest totals first), each with
    its colour; the rest summed as Other."""
    rank: dict[str, int] = {}
    for name in order:
        rank.setdefault(name, len(rank))
    ranked = sorted(
        series.items(), key=lambda item: (rank.get(item[0], len(rank)), -sum(item[1]), item[0])
    )
    top = [(name, list(values)) for name, values in ranked[:MAX_SERIES]]
    pairs = list(zip(top, SERIES_COLOURS, strict=False))
    rest = ranked[MAX_SERIES:]
    if rest:
        other = [sum(column) for column in zip(*(values for _, values in rest), strict=True)]
        pairs.append(((OTHER, other), OTHER_COLOUR))
    return pairs


def _layout(*, unit: str) -> dict:
    return {
        "height": 260,
        "margin": {"l": 56, "r": 48, "t": 8, "b": 36},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": "var(--font)", "size": 12, "color": "var(--muted)"},
        "showlegend": True,
        "legend": {
            "orientation": "h",
            "x": 0,
            "y": -0.18,
            "yanchor": "top",
            "traceorder": "normal",
            "font": {"size": 12, "color": "var(--text-2)"},
        },
        "hovermode": "x unified",
        "hoverlabel": {
            "bgcolor": "var(--surface)",
            "bordercolor": "var(--border-strong)",
            "font": {"color": "var(--text)", "size": 12},
        },
        "xaxis": {**_axis(), "type": "date", "showgrid": False},
        "yaxis": {**_axis(), "tickformat": _TICK_FORMATS[unit], "rangemode": "tozero"},
    }


def _axis() -> dict:
    return {
        "gridcolor": "var(--border)",
        "linecolor": "var(--border-strong)",
        "zerolinecolor": "var(--border-strong)",
        "tickfont": {"color": "var(--muted)", "size": 11},
        "automargin": True,
        "fixedrange": True,
    }


def _x(buckets: Sequence[datetime | date]) -> list[str]:
    """Plotly has no time zones: give it UTC wall times (the page says "UTC")."""
    return [
        b.strftime("%Y-%m-%d %H:%M") if isinstance(b, datetime) else b.isoformat() for b in buckets
    ]


def _plot(value: Number) -> float | int:
    """A number Plotly can draw. Money becomes a float here and only here."""
    return float(value) if isinstance(value, Decimal) else value


def _label(text: str) -> str:
    """Names come from users' events; Plotly reads a few HTML tags in labels."""
    return html.escape(text, quote=False)
