"""Display filters for money, token counts, rates and durations. Money stays Decimal:
amounts are formatted by billing.pricing, never through float."""

from decimal import Decimal
from html import escape

from django import template
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe

from billing.pricing import exact_amount, format_money
from billing.selectors import decimal_text

register = template.Library()


@register.filter
def money(amount: Decimal | None, currency: str = "USD") -> SafeString | str:
    """1234.5 → "1,234.50 USD" with the exact amount on hover, in the currency's minor
    units ("1,234 JPY", "1.500 KWD"); tiny amounts keep 4 significant digits ("0.0042 USD").

    Every part is escaped as `format_html` would (Django's escape is the standard
    library's), without its per-argument overhead: a revenue page shows ~1,500 amounts."""
    if amount is None:
        return ""
    number, _, code = format_money(amount, currency).rpartition(" ")
    code = escape(code)
    return mark_safe(  # noqa: S308 — every interpolated part is escaped just above
        f'<span class="money" title="{escape(exact_amount(amount, currency))} {code}">'
        f'{escape(number)}<span class="money__ccy">{code}</span></span>'
    )


@register.filter
def exact(amount: Decimal | None, currency: str | None = None) -> str:
    """The exact amount as text (as in the CSV): 12.500000 → "12.50"; with a currency,
    in its minor units: `{{ amount|exact:"JPY" }}` → "1234"."""
    if amount is None:
        return ""
    return decimal_text(amount) if currency is None else exact_amount(amount, currency)


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
