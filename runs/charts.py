"""Small chart builders for run pages. Pure: plain values in, plain dicts out.

Plotly figures are dicts for `{{ fig|json_script:"id" }}`. Colours may be written as
CSS custom properties ("var(--red)"): static/js/runs.js resolves them against the page,
so a chart follows the light or dark theme. Sparklines are geometry for an inline SVG,
no Plotly needed.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


@dataclass(frozen=True)
class SparkBar:
    x: float
    y: float
    width: float
    height: float
    value: int
    label: str


def spark_bars(
    values: Sequence[int],
    *,
    labels: Sequence[str] = (),
    width: int = 84,
    height: int = 20,
    gap: float = 1.0,
    min_height: float = 1.0,
) -> list[SparkBar]:
    """Bars for a tiny trend: the tallest fills `height`, zeros keep a `min_height` tick."""
    if not values:
        return []
    count = len(values)
    bar_width = max((width - gap * (count - 1)) / count, 0.5)
    peak = max(max(values), 1)
    bars = []
    for index, value in enumerate(values):
        bar_height = max(height * value / peak, min_height)
        bars.append(
            SparkBar(
                x=round(index * (bar_width + gap), 2),
                y=round(height - bar_height, 2),
                width=round(bar_width, 2),
                height=round(bar_height, 2),
                value=value,
                label=labels[index] if index < len(labels) else "",
            )
        )
    return bars


def daily_bar_figure(
    days: Sequence[date],
    values: Sequence[float],
    *,
    name: str,
    color: str = "var(--accent)",
    height: int = 220,
) -> dict:
    """A bar per day with a quiet axis: for counts like errors or runs per day."""
    return {
        "data": [
            {
                "type": "bar",
                "name": name,
                "x": [day.isoformat() for day in days],
                "y": list(values),
                "marker": {"color": color},
                "hovertemplate": f"%{{x|%b %-d}}: %{{y:,}} {name}<extra></extra>",
            }
        ],
        "layout": _integer_axis(base_layout(height=height), max(values, default=0)),
    }


def _integer_axis(layout: dict, peak: float) -> dict:
    # Plotly would label a small count axis 0, 0.5, 1 (printed as 0, 1, 1): step by one.
    if peak <= 5:
        layout["yaxis"] |= {"dtick": 1, "range": [0, max(peak, 1) * 1.1]}
    return layout


def base_layout(*, height: int = 220) -> dict:
    """Transparent background, muted axes and grid, no legend: the house style."""
    axis = {
        "color": "var(--muted)",
        "gridcolor": "var(--border)",
        "linecolor": "var(--border)",
        "zerolinecolor": "var(--border)",
        "tickfont": {"size": 11},
        "fixedrange": True,
    }
    return {
        "height": height,
        "margin": {"l": 40, "r": 12, "t": 8, "b": 28},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": FONT, "size": 12, "color": "var(--muted)"},
        "showlegend": False,
        "bargap": 0.25,
        "hoverlabel": {"font": {"family": FONT, "size": 12}},
        "xaxis": {**axis, "type": "date", "showgrid": False, "tickformat": "%b %-d"},
        "yaxis": {**axis, "rangemode": "tozero", "tickformat": ",d", "nticks": 4},
    }
