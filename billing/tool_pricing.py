"""Tool prices and the cost of billable tool uses (Charm's `tool_usage` events).

Pure Python: no Django, no database. Tool uses are kept as counts per day, agent and
tool (`ToolUsageDaily`) and priced when a page reads them, so a price added or
removed shows at once, with nothing to re-price.

The price in force for a tool on a day is the row for that tool (its exact name) with
the latest `effective_from` on or before the day. A use with no such row is
*unpriced*: counted and listed, never priced at 0. A row with a price of 0 is a tool
someone said is free, which is another thing. Money is ``Decimal``, kept per
currency and never added across currencies.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, localcontext

# A count times a 10-place price is exact at this precision (as in billing.pricing).
_WORKING_PRECISION = 60


def normalize_currency(code: str) -> str:
    """A currency code as stored: " usd" → "USD". Raises ValueError unless it is
    three ASCII letters."""
    text = code.strip().upper()
    if len(text) != 3 or not (text.isascii() and text.isalpha()):
        raise ValueError(f"currency must be a 3-letter code like USD, got {code!r}")
    return text


@dataclass(frozen=True, slots=True)
class ToolRate:
    """One row of the tool price table (`billing.models.ToolPrice`): what one use of
    `tool` costs from a day on."""

    tool: str
    unit_price: Decimal
    currency: str
    effective_from: date
    id: int | None = None

    def __post_init__(self) -> None:
        if not self.tool.strip():
            raise ValueError("tool must not be empty")
        if not isinstance(self.unit_price, Decimal):
            raise TypeError(f"unit_price must be a Decimal, got {type(self.unit_price).__name__}")
        if not self.unit_price.is_finite() or self.unit_price < 0:
            raise ValueError(
                f"unit_price must be a finite amount of 0 or more, got {self.unit_price}"
            )
        if normalize_currency(self.currency) != self.currency:
            raise ValueError(f"currency must be an upper-case 3-letter code, got {self.currency!r}")
        if isinstance(self.effective_from, datetime) or not isinstance(self.effective_from, date):
            raise TypeError("effective_from must be a date (not a datetime)")


class ToolPriceBook:
    """Tool prices indexed by tool and date, to find the row in force on a day fast.

    Among rows of the same tool and day (the database allows one per organization),
    the first given wins.
    """

    def __init__(self, prices: Iterable[ToolRate]) -> None:
        rows: dict[str, list[ToolRate]] = {}
        for price in prices:
            same_tool = rows.setdefault(price.tool, [])
            if all(p.effective_from != price.effective_from for p in same_tool):
                same_tool.append(price)
        self._rows = {tool: sorted(r, key=lambda p: p.effective_from) for tool, r in rows.items()}
        self._days = {tool: [p.effective_from for p in r] for tool, r in self._rows.items()}

    def price_on(self, tool: str, day: date) -> ToolRate | None:
        """The price of one use of `tool` on `day`, or None: the use is unpriced."""
        if isinstance(day, datetime) or not isinstance(day, date):
            raise TypeError("day must be a date; convert a datetime in the intended zone first")
        days = self._days.get(tool)
        if not days:
            return None
        at = bisect_right(days, day)
        return self._rows[tool][at - 1] if at else None

    def first_day(self, tool: str) -> date | None:
        """The first day a use of `tool` has a price, or None if it never has one."""
        days = self._days.get(tool)
        return days[0] if days else None


def tool_use_cost(count: int, price: ToolRate) -> Decimal:
    """`count` uses at `price`, exact (no rounding: a count times a price is exact)."""
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"count must be an int, got {type(count).__name__}")
    with localcontext() as ctx:
        ctx.prec = _WORKING_PRECISION
        return Decimal(count) * price.unit_price


@dataclass
class ToolCost:
    """Uses of some tools and what they cost, per currency. Unpriced uses are counted
    in `uses` and in `unpriced_uses`, and in no cost."""

    uses: int = 0
    unpriced_uses: int = 0
    cost: dict[str, Decimal] = field(default_factory=dict)  # currency → amount
    prices: list[ToolRate] = field(default_factory=list)  # the rows that priced uses here

    def add(self, count: int, price: ToolRate | None) -> None:
        """Count `count` uses priced at `price` (None: unpriced)."""
        self.uses += count
        if price is None:
            self.unpriced_uses += count
            return
        amount = tool_use_cost(count, price)
        self.cost[price.currency] = self.cost.get(price.currency, Decimal(0)) + amount
        if price not in self.prices:
            self.prices.append(price)

    def merge(self, other: ToolCost) -> None:
        """Add `other`'s uses and costs into this one, currency by currency."""
        self.uses += other.uses
        self.unpriced_uses += other.unpriced_uses
        for currency, amount in other.cost.items():
            self.cost[currency] = self.cost.get(currency, Decimal(0)) + amount
        self.prices += [price for price in other.prices if price not in self.prices]

    @property
    def rates(self) -> list[ToolRate]:
        """The rows that priced these uses, oldest first (more than one when a price
        changed inside the range read)."""
        return sorted(self.prices, key=lambda p: (p.tool, p.effective_from))

    @property
    def priced_uses(self) -> int:
        return self.uses - self.unpriced_uses

    @property
    def costs(self) -> list[tuple[str, Decimal]]:
        """(currency, amount) by currency code: for display, one line each."""
        return sorted(self.cost.items())

    def cost_in(self, currency: str) -> Decimal:
        """The cost in one currency (0 when nothing was priced in it)."""
        return self.cost.get(currency, Decimal(0))

    @property
    def other_currencies(self) -> list[tuple[str, Decimal]]:
        """The costs not in USD (what a USD margin cannot subtract)."""
        return [(code, amount) for code, amount in self.costs if code != "USD"]


def tool_uses_cost(
    prices: Iterable[ToolRate] | ToolPriceBook, uses: Iterable[tuple[date, str, int]]
) -> ToolCost:
    """What the (day, tool, count) `uses` cost, per currency, each use at the price in
    force for its tool on its day; uses without one are counted as unpriced."""
    book = prices if isinstance(prices, ToolPriceBook) else ToolPriceBook(prices)
    total = ToolCost()
    for day, tool, count in uses:
        total.add(count, book.price_on(tool, day))
    return total


__all__ = [
    "ToolCost",
    "ToolPriceBook",
    "ToolRate",
    "normalize_currency",
    "tool_use_cost",
    "tool_uses_cost",
]
