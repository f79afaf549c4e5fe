"""Model prices and the cost of LLM usage.

Pure Python: no Django, no database. The database keeps the editable price table;
this module decides which row prices a call and what the call costs.

Money is ``Decimal`` end to end. Floats are refused wherever an amount or a price
comes in, because a float has already lost the exact value before we see it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext
from fnmatch import fnmatchcase
from typing import Literal

from billing.currencies import display_places, quantum

MatchKind = Literal["exact", "prefix", "glob"]

TOKENS_PER_PRICE_UNIT = 1_000_000
COST_PLACES = 10
SMALL_AMOUNT_SIGNIFICANT_DIGITS = 4

_MATCH_KINDS: tuple[str, ...] = ("exact", "prefix", "glob")
# Most specific kind first: exact beats prefix beats glob.
_KIND_RANK: dict[str, int] = {"exact": 2, "prefix": 1, "glob": 0}
# Room for any realistic token count times any price, so nothing is rounded
# before the single final quantize in cost_of().
_WORKING_PRECISION = 60


def normalize_model(name: str) -> str:
    """Return the form in which model names and patterns are compared.

    Surrounding whitespace and case are ignored, and so is a provider prefix: everything
    up to the last "/" ("openai/gpt-4o" and "OpenRouter/OpenAI/GPT-4o" become "gpt-4o").
    """
    return name.strip().rsplit("/", 1)[-1].strip().lower()


def _require_decimal(value: object, name: str) -> Decimal:
    """Return ``value`` if it is a finite Decimal; refuse floats and everything else."""
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{name} must be finite, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class Price:
    """One row of the price table: what a model costs per 1M tokens from a date on.

    ``model_pattern`` is compared like model names are (see ``normalize_model``), so
    a provider prefix in it is ignored: "openai/gpt-4o" and "gpt-4o" are the same
    pattern, and a glob "openai/*" is the glob "*", which matches every model.
    """

    id: int | None
    model_pattern: str
    match: MatchKind
    effective_from: date
    input_per_m: Decimal
    output_per_m: Decimal
    cache_read_per_m: Decimal
    cache_write_per_m: Decimal
    currency: str = "USD"

    def __post_init__(self) -> None:
        if self.match not in _MATCH_KINDS:
            raise ValueError(f"match must be one of {_MATCH_KINDS}, not {self.match!r}")
        if not normalize_model(self.model_pattern):
            raise ValueError("model_pattern must not be empty")
        if isinstance(self.effective_from, datetime) or not isinstance(self.effective_from, date):
            raise TypeError("effective_from must be a date (not a datetime)")
        for name in ("input_per_m", "output_per_m", "cache_read_per_m", "cache_write_per_m"):
            value = _require_decimal(getattr(self, name), name)
            if value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")
        if not self.currency:
            raise ValueError("currency must not be empty")


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one LLM call, each priced at its own rate.

    The convention is Anthropic's: the four counts are disjoint.

    - ``input_tokens``: input tokens that were neither read from nor written to the
      prompt cache (Anthropic's ``input_tokens``).
    - ``cache_read_tokens``: input tokens served from the cache
      (Anthropic's ``cache_read_input_tokens``).
    - ``cache_write_tokens``: input tokens written to the cache
      (Anthropic's ``cache_creation_input_tokens``).
    - ``output_tokens``: generated tokens, reasoning tokens included.

    OpenAI (and Gemini) report it the other way round: ``prompt_tokens`` *includes*
    the cached tokens, given apart in ``prompt_tokens_details.cached_tokens``
    (Gemini: ``cached_content_token_count``). An emitter following that convention
    must send ``input_tokens = prompt_tokens - cached_tokens`` and
    ``cache_read_tokens = cached_tokens``; sending ``prompt_tokens`` as is would
    bill the cached tokens twice, once at the input rate and once at the cache rate.
    OpenAI has no separate cache-write count, so ``cache_write_tokens`` stays 0.
    """

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __post_init__(self) -> None:
        for name in _USAGE_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
            if value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")


_USAGE_FIELDS = tuple(field.name for field in fields(Usage))  # read once, not per call


def _row(
    pattern: str,
    effective_from: date,
    input_per_m: str,
    output_per_m: str,
    cache_read_per_m: str,
    cache_write_per_m: str,
) -> Price:
    return Price(
        id=None,
        model_pattern=pattern,
        match="prefix",
        effective_from=effective_from,
        input_per_m=Decimal(input_per_m),
        output_per_m=Decimal(output_per_m),
        cache_read_per_m=Decimal(cache_read_per_m),
        cache_write_per_m=Decimal(cache_write_per_m),
    )


# Shipped defaults, USD per 1M tokens: the providers' published list prices in
# effect from each row's effective date, which is the model's release date (or the
# date of a price change). They are a starting point, copied into the editable price
# table; a negotiated discount or a newer price is a new row, not an edit here.
#
# All rows are prefix matches so dated variants ("gpt-4o-2024-08-06",
# "claude-sonnet-4-5-20250929", "claude-3-5-haiku-latest") find their family.
# Because a prefix also catches sibling models ("o3" would catch "o3-mini"), the
# siblings that cost something else have their own, longer, rows: the longest
# prefix wins.
#
# Cache write: OpenAI does not charge for writing the cache, and Gemini charges
# cache creation as input (storage per hour is not per token and is not modelled),
# so for both the cache-write rate is the input rate. Anthropic's rate is the
# 5-minute cache write (1.25 x input); 1-hour writes (2 x input) and long-context
# surcharges (Claude Sonnet 4/4.5 and Gemini 2.5 Pro above 200k prompt tokens) are
# not modelled.
DEFAULT_PRICES: tuple[Price, ...] = (
    # OpenAI
    _row("gpt-4o", date(2024, 5, 13), "2.50", "10.00", "1.25", "2.50"),
    # The first gpt-4o snapshot kept its launch price.
    _row("gpt-4o-2024-05-13", date(2024, 5, 13), "5.00", "15.00", "5.00", "5.00"),
    _row("gpt-4o-mini", date(2024, 7, 18), "0.15", "0.60", "0.075", "0.15"),
    _row("gpt-4.1", date(2025, 4, 14), "2.00", "8.00", "0.50", "2.00"),
    _row("gpt-4.1-mini", date(2025, 4, 14), "0.40", "1.60", "0.10", "0.40"),
    _row("gpt-4.1-nano", date(2025, 4, 14), "0.10", "0.40", "0.025", "0.10"),
    # o3 launched at 10/40 and was cut by 80% on 2025-06-10.
    _row("o3", date(2025, 4, 16), "10.00", "40.00", "2.50", "10.00"),
    _row("o3", date(2025, 6, 10), "2.00", "8.00", "0.50", "2.00"),
    _row("o3-mini", date(2025, 1, 31), "1.10", "4.40", "0.55", "1.10"),
    _row("o3-pro", date(2025, 6, 10), "20.00", "80.00", "20.00", "20.00"),
    _row("o4-mini", date(2025, 4, 16), "1.10", "4.40", "0.275", "1.10"),
    # Anthropic
    _row("claude-sonnet-4-5", date(2025, 9, 29), "3.00", "15.00", "0.30", "3.75"),
    _row("claude-sonnet-4", date(2025, 5, 22), "3.00", "15.00", "0.30", "3.75"),
    _row("claude-3-7-sonnet", date(2025, 2, 24), "3.00", "15.00", "0.30", "3.75"),
    _row("claude-opus-4-1", date(2025, 8, 5), "15.00", "75.00", "1.50", "18.75"),
    _row("claude-opus-4", date(2025, 5, 22), "15.00", "75.00", "1.50", "18.75"),
    _row("claude-haiku-4-5", date(2025, 10, 15), "1.00", "5.00", "0.10", "1.25"),
    _row("claude-3-5-haiku", date(2024, 10, 22), "0.80", "4.00", "0.08", "1.00"),
    # Google (prompts up to 200k tokens)
    _row("gemini-2.5-pro", date(2025, 6, 17), "1.25", "10.00", "0.31", "1.25"),
    _row("gemini-2.5-flash", date(2025, 6, 17), "0.30", "2.50", "0.075", "0.30"),
    _row("gemini-2.5-flash-lite", date(2025, 7, 22), "0.10", "0.40", "0.025", "0.10"),
)


def find_price(prices: Sequence[Price], model: str, at: date) -> Price | None:
    """Return the price row that costs a call to ``model`` made on day ``at``, or None.

    Candidates are the rows whose pattern matches the model and whose
    ``effective_from`` is on or before ``at``. The most specific candidate wins:
    an exact match, else the longest prefix, else the glob with the longest literal
    (non-wildcard) part. A more specific row wins even over a newer, less specific
    one. Among equally specific rows the latest ``effective_from`` wins, and among
    rows equal in that too, the first in ``prices``.

    None means the model is unpriced: the caller must show it as such, never as 0.

    ``at`` is a calendar day; convert a timestamp with ``ts.astimezone(UTC).date()``
    (or whatever day boundary the price table is meant in) before calling.
    """
    if isinstance(at, datetime) or not isinstance(at, date):
        raise TypeError("at must be a date; convert a datetime with .date() in the intended zone")
    name = normalize_model(model)
    if not name:
        return None
    best: Price | None = None
    best_key: tuple[int, int, date] | None = None
    for price in prices:
        if price.effective_from > at:
            continue
        specificity = _specificity(price, name)
        if specificity is None:
            continue
        key = (*specificity, price.effective_from)
        if best_key is None or key > best_key:
            best, best_key = price, key
    return best


def _specificity(price: Price, name: str) -> tuple[int, int] | None:
    """Return how specifically ``price`` matches the normalized ``name``, or None."""
    pattern = normalize_model(price.model_pattern)
    if price.match == "exact":
        matched, length = pattern == name, len(pattern)
    elif price.match == "prefix":
        matched, length = name.startswith(pattern), len(pattern)
    else:
        matched, length = fnmatchcase(name, pattern), _literal_length(pattern)
    return (_KIND_RANK[price.match], length) if matched else None


def _literal_length(pattern: str) -> int:
    """Count the characters of a glob that match only themselves.

    Follows fnmatch: "*" and "?" are wildcards, "[...]" is a character class, and a
    "[" without a closing "]" is a literal.
    """
    count = 0
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char in "*?":
            i += 1
        elif char == "[":
            j = i + 1
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j < n:
                i = j + 1  # a whole character class
            else:
                count += 1  # an unclosed "[" is literal
                i += 1
        else:
            count += 1
            i += 1
    return count


def cost_of(usage: Usage, price: Price) -> Decimal:
    """Return what ``usage`` costs at ``price``, in ``price.currency``.

    Each token count is multiplied by its own per-1M rate (input, output, cache read,
    cache write; see ``Usage`` for what each count must contain) and divided by
    1,000,000. The exact sum is quantized once to 10 decimal places with
    ROUND_HALF_EVEN. The arithmetic runs in a private Decimal context, so the result
    does not depend on the caller's context and no float is involved.
    """
    components = (
        (usage.input_tokens, price.input_per_m),
        (usage.output_tokens, price.output_per_m),
        (usage.cache_read_tokens, price.cache_read_per_m),
        (usage.cache_write_tokens, price.cache_write_per_m),
    )
    with localcontext() as ctx:
        ctx.prec = _WORKING_PRECISION
        total = sum(
            (Decimal(tokens) * rate / TOKENS_PER_PRICE_UNIT for tokens, rate in components),
            start=Decimal(0),
        )
        return total.quantize(Decimal(1).scaleb(-COST_PLACES), rounding=ROUND_HALF_EVEN)


def money(amount: Decimal, places: int = 2) -> Decimal:
    """Round ``amount`` to ``places`` decimals for display, halves away from zero."""
    _require_decimal(amount, "amount")
    with localcontext() as ctx:
        ctx.prec = _WORKING_PRECISION
        return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def format_money(amount: Decimal, currency: str) -> str:
    """Format an amount for display as "1,234.56 USD": the number, then the currency code.

    Amounts are shown with the currency's ISO 4217 minor units and thousands separators
    ("-12.50 EUR", "1,234 JPY", "1.500 KWD"; 2 places for a code ISO does not know).
    A nonzero amount under one minor unit would show as 0.00, so it is shown with up to
    4 significant digits instead, trailing zeros dropped ("0.0042 USD",
    "0.000123 USD"). Rounding is half away from zero.
    """
    _require_decimal(amount, "amount")
    places = display_places(currency)
    if amount.is_zero():
        amount = abs(amount)
    elif abs(amount) < quantum(currency):
        # Places needed for 4 significant digits: adjusted() is the exponent of the
        # leading digit, -3 for 0.0042, so 3 + 4 = 7 places.
        places = SMALL_AMOUNT_SIGNIFICANT_DIGITS - 1 - amount.adjusted()
        text = f"{money(amount, places):f}".rstrip("0").rstrip(".")
        return f"{text} {currency}"
    return f"{money(amount, places):,.{places}f} {currency}"


def exact_amount(amount: Decimal, currency: str) -> str:
    """An exact amount as text, as in the CSV: at least the currency's minor units,
    no trailing zeros beyond them: 12.500000 USD → "12.50", 1234.000000 JPY → "1234",
    1.5 KWD → "1.500", 0.333333 USD → "0.333333". Never through float."""
    _require_decimal(amount, "amount")
    text = format(abs(amount) if amount.is_zero() else amount.normalize(), "f")
    whole, _, fraction = text.partition(".")
    fraction = fraction.ljust(display_places(currency), "0")
    return f"{whole}.{fraction}" if fraction else whole


__all__ = [
    "DEFAULT_PRICES",
    "MatchKind",
    "Price",
    "Usage",
    "cost_of",
    "exact_amount",
    "find_price",
    "format_money",
    "money",
    "normalize_model",
]
