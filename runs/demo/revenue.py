"""The agents' paying customers and the revenue ledger that refunds point back into."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

# ---------------------------------------------------------------------------
# Customers (the agents' paying customers)
# ---------------------------------------------------------------------------

_CUSTOMERS: tuple[tuple[str, str, str, int], ...] = (
    # id, display name, currency, weight
    ("acme-corp", "Acme Corp", "USD", 6),
    ("globex", "Globex", "USD", 4),
    ("initech", "Initech", "USD", 3),
    ("umbrella-health", "Umbrella Health", "USD", 3),
    ("stark-logistics", "Stark Logistics", "USD", 2),
    ("wayne-foods", "Wayne Foods", "USD", 2),
    ("muller-logistik", "Müller Logistik", "EUR", 3),
    ("lumiere-studio", "Lumière Studio", "EUR", 2),
    ("nordwind-gmbh", "Nordwind GmbH", "EUR", 2),
)
_CUSTOMER_NAMES = {customer_id: name for customer_id, name, _, _ in _CUSTOMERS}
_SUBSCRIPTION_PRICE = {"USD": Decimal("199.00"), "EUR": Decimal("179.00")}


def _pick_customer(rng: random.Random) -> tuple[str, str]:
    """A customer id and its currency; bigger customers run more often."""
    customer_id, _, currency, _ = rng.choices(_CUSTOMERS, [c[3] for c in _CUSTOMERS])[0]
    return customer_id, currency


# ---------------------------------------------------------------------------
# Revenue ledger: charges seen so far, so refunds can point at real ones
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Charge:
    external_id: str
    customer: str
    currency: str
    amount: Decimal
    ts: datetime


@dataclass
class _Ledger:
    charges: list[_Charge] = field(default_factory=list)
    refunded: set[str] = field(default_factory=set)
    last_subscription: dict[str, datetime] = field(default_factory=dict)

    def refundable(self, customer: str, before: datetime) -> list[_Charge]:
        """Earlier charges of ``customer`` that were not refunded yet."""
        return [
            charge
            for charge in self.charges
            if charge.customer == customer
            and charge.ts < before
            and charge.external_id not in self.refunded
        ]
