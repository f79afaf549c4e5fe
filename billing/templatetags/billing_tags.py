"""Display filters for money, token counts, rates and durations. Money stays Decimal:
amounts are formatted by billing.pricing, never through float."""

from decimal import Decimal

from django import template
from django.utils.html import format_html
from django.utils.http import urlencode

from billing.pricing import format_money
from billing.selectors import decimal_text

register = template.Library()


@register.filter
def money(amount: Decimal | None, currency: str = "USD"):
    """1234.5 → "1,234.50 USD" with the exact amount on hover; tiny amounts keep 4
    significant digits ("0.0042 USD")."""
    if amount is None:
        return ""
    number, _, code = format_money(amount, currency).rpartition(" ")
    return format_html(
        '<span class="money" title="{} {}">{}<span class="money__ccy">{}</span></span>',
        decimal_text(amount),
        code,
        number,
        code,
    )


@register.filter
def exact(amount: Decimal | None) -> str:
    """The exact amount as text (as in the CSV): 12.500000 → "12.50"."""
    return "" if amount is None else decimal_text(amount)


@register.filter
def compact(value: int | None) -> str:
    """Token counts: 950 → "950", 12_300 → "12.3k", 4_560_000 → "4.56M"."""
    if value is None:
        return ""
    for size, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "k")):
        if abs(value) >= size:
            text = f"{value / size:.3g}"
            return f"{text}{suffix}"
    return f"{value:,}"


@register.filter
def percent(rate: float | None) -> str:
    """0.1234 → "12.3%"; None (nothing to rate) → "–"."""
    if rate is None:
        return "–"
    return f"{rate * 100:.1f}%"


@register.filter
def duration(ms: float | None) -> str:
    """Milliseconds for people: 840 → "840 ms", 12_400 → "12.4 s", 192_000 → "3.2 min"."""
    if ms is None:
        return "–"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    if ms < 3_600_000:
        return f"{ms / 60_000:.1f} min"
    return f"{ms / 3_600_000:.1f} h"


@register.filter
def get_count(counts: dict, key: int) -> int:
    """counts[key], or 0: how many calls a price row costed."""
    return counts.get(key, 0)


@register.simple_tag
def querystring_for(filters, **changes: str) -> str:
    """The query string of revenue `filters` with some values changed (an empty value
    drops the filter): `?{% querystring_for filters customer=row.name %}`."""
    return urlencode(filters.as_params(**{key: str(value) for key, value in changes.items()}))
