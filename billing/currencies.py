"""ISO 4217 currencies: which codes Studio takes for money, and their minor units.

The data is ISO 4217's own table (list one) as the pinned `iso4217` package ships it,
so a new or withdrawn currency arrives with a version bump, not an edit here. Babel's
CLDR digits were not used: they are display digits and differ from ISO's minor units
for 14 currencies (IQD has 3 in ISO, 0 in CLDR; MGA, RSD and others 2 against 0).

Codes whose minor units ISO gives as "N.A." (gold, silver, the SDR, fund units, XTS
for testing, XXX for "no currency") are not money a customer pays in, so they are
not taken."""

from decimal import Decimal

import iso4217

# Code → minor units (JPY 0, USD 2, KWD 3, CLF 4).
MINOR_UNITS: dict[str, int] = {
    currency.code: currency.exponent
    for currency in iso4217.Currency
    if currency.exponent is not None
}
# ISO 4217 codes that are not money: minor units "N.A.".
NOT_MONEY: frozenset[str] = frozenset(
    currency.code for currency in iso4217.Currency if currency.exponent is None
)
CODES: tuple[str, ...] = tuple(sorted(MINOR_UNITS))
ISO_4217_PUBLISHED = iso4217.__published__

# Places shown for a code the table does not know (rows stored before codes were checked).
_FALLBACK_PLACES = 2


def minor_units(code: str) -> int | None:
    """The currency's minor units ("USD" → 2, "JPY" → 0), None unless it is an ISO 4217
    currency of money. `code` is upper case, as stored."""
    return MINOR_UNITS.get(code)


def display_places(code: str) -> int:
    """Decimal places to show an amount in: its minor units, 2 for an unknown code."""
    return MINOR_UNITS.get(code, _FALLBACK_PLACES)


def decimal_places(amount: Decimal) -> int:
    """Places the amount needs, trailing zeros not counted: "12.50" → 1, "1.00" → 0."""
    exponent = amount.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def quantum(code: str) -> Decimal:
    """One minor unit of the currency: Decimal("0.01") for USD, Decimal("1") for JPY."""
    return Decimal(1).scaleb(-display_places(code))
