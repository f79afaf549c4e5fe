"""Audit entries for price table changes: prices move every cost figure in Studio, so
owners see who changed which row, and from what to what."""

from decimal import Decimal

from billing.models import ModelPrice, ToolPrice
from billing.services import PRICE_FIELDS
from studio.audit import audit_record


def _values(price: ModelPrice) -> dict:
    # Normalized, so 0.10 from the form and 0.100000 from the database read the same.
    return {name: _text(getattr(price, name)) for name in PRICE_FIELDS}


def _text(value) -> str:
    return f"{value.normalize():f}" if isinstance(value, Decimal) else str(value)


def audit_price_added(*, actor, price: ModelPrice) -> None:
    audit_record(
        organization=price.organization,
        actor=actor,
        action="price.added",
        target=f"model price {price.model_pattern}",
        details=_values(price),
    )


def audit_price_changed(*, actor, before: ModelPrice, after: ModelPrice) -> None:
    old, new = _values(before), _values(after)
    changed = {
        name: f"{old[name]} → {new[name]}" for name in PRICE_FIELDS if old[name] != new[name]
    }
    if changed:
        audit_record(
            organization=after.organization,
            actor=actor,
            action="price.changed",
            target=f"model price {after.model_pattern}",
            details=changed,
        )


def audit_tool_price(*, actor, price: ToolPrice, action: str) -> None:
    """`action` is "tool_price.added" or "tool_price.deleted"."""
    audit_record(
        organization=price.organization,
        actor=actor,
        action=action,
        target=f"tool price {price.tool}",
        details={
            "unit_price": f"{_text(price.unit_price)} {price.currency}",
            "effective_from": price.effective_from.isoformat(),
        },
    )
