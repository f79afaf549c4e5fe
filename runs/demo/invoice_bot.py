"""invoice-bot: its inputs, its sentences, and the script of one run."""

from __future__ import annotations

import json
import random
from datetime import datetime
from decimal import Decimal
from typing import Any

from runs.demo.helpers import _count, _display_money, _hex, _money, _sentences
from runs.demo.revenue import _CUSTOMER_NAMES, _pick_customer
from runs.demo.steps import Billing, LLMCall, LogLine, Script, Step, ToolCall, _http

# ---------------------------------------------------------------------------
# invoice-bot
# ---------------------------------------------------------------------------

_INVOICE_PLAN = (
    (
        "I'll start by pulling every open invoice for {customer} in {period_name}.",
        "First I'll fetch the open invoices for {customer} for {period_name} from QuickBooks.",
        "Let me look up the open invoices for {customer} in {period_name} first.",
    ),
    (
        "Then I'll compare each due date with today to find the ones past their terms.",
        "After that I'll check which of them are past their net-30 terms.",
        "Next I'll work out which of them are overdue, and by how many days.",
    ),
    (
        "Overdue invoices get a reminder email, and at the end I'll bill the processing fee.",
        "I'll send reminders only where the customer is late, then record the processing fee.",
        "Once the reminders are out I'll charge the monthly fee and write a short summary.",
    ),
)
_INVOICE_REVIEW_OPEN = (
    "{customer} has {open_phrase} totalling {total}.",
    "There are {open_phrase} for {customer}, worth {total} in total.",
)
_INVOICE_REVIEW_OVERDUE = (
    "{overdue_phrase_cap} past due, and the oldest, {oldest_id}, is {oldest_days} days late.",
    "{overdue_phrase_cap} overdue; {oldest_id} for {oldest_amount} has been outstanding "
    "for {oldest_days} days.",
)
_INVOICE_REVIEW_REST = (
    "The remaining invoices are still within terms, so I will leave them alone.",
    "Everything else is still inside the 30-day window.",
    "The others are not due yet.",
)
_INVOICE_REVIEW_TONE = (
    "I'll use the firmer template for anything more than 30 days late and the friendly one "
    "for the rest.",
    "Reminders will go to the billing contact on file, with the invoice PDF attached.",
    "I'll copy the account manager on anything older than 45 days.",
)
_INVOICE_NOTHING_DUE = (
    "None of them is overdue yet, so no reminders are needed this time.",
    "All of them are still within their payment terms, so there is nothing to chase.",
)
_INVOICE_SUMMARY_DONE = (
    "Done: I reviewed {open_phrase} for {customer}, {total} outstanding in total.",
    "All done for {customer}: {open_phrase} reviewed, {total} still outstanding.",
)
_INVOICE_SUMMARY_REMINDERS = (
    "I sent {reminder_phrase}, starting with {oldest_id}, which is {oldest_days} days overdue.",
    "{reminder_phrase_cap} went out; the oldest invoice, {oldest_id}, is {oldest_days} days late.",
)
_INVOICE_SUMMARY_FLAGGED = (
    "Reminders are switched off for this run, so I only flagged the overdue invoices for the "
    "finance team.",
)
_INVOICE_SUMMARY_NONE = ("Nothing is overdue, so no reminders were needed.",)
_INVOICE_SUMMARY_FEE = (
    "The processing fee of {fee} has been billed to the account.",
    "I billed the {fee} processing fee for {period_name}.",
)


def _invoice_inputs(rng: random.Random, start: datetime) -> dict[str, Any]:
    customer, currency = _pick_customer(rng)
    return {
        "customer": customer,
        "billing_period": start.strftime("%Y-%m"),
        "as_of": start.date().isoformat(),
        "currency": currency,
        "send_reminders": rng.random() < 0.85,
        "reminder_template": rng.choice(["friendly", "firm"]),
    }


def _open_invoices(rng: random.Random) -> list[tuple[str, Decimal, int]]:
    """(invoice id, amount, days overdue; zero or less means not due yet)."""
    invoices = []
    for _ in range(rng.randint(2, 11)):
        amount = Decimal(rng.randint(120, 4800)) + Decimal(rng.choice([0, 50, 90])) / 100
        days = rng.randint(1, 75) if rng.random() < 0.3 else rng.randint(-29, 0)
        invoices.append((f"INV-{rng.randint(20000, 29999)}", amount, days))
    return invoices


def _invoice_fee(invoice_count: int, currency: str) -> Decimal:
    tiers = {"USD": ("49.00", "99.00", "149.00"), "EUR": ("45.00", "89.00", "135.00")}
    tier = 0 if invoice_count <= 4 else 1 if invoice_count <= 8 else 2
    return Decimal(tiers[currency][tier])


def _invoice_script(rng: random.Random, inputs: dict[str, Any]) -> Script:
    customer, currency = inputs["customer"], inputs["currency"]
    period = inputs["billing_period"]
    invoices = _open_invoices(rng)
    overdue = sorted((inv for inv in invoices if inv[2] > 0), key=lambda inv: -inv[2])
    reminders = overdue if inputs["send_reminders"] else []
    total = sum((inv[1] for inv in invoices), Decimal(0))
    fee = _invoice_fee(len(invoices), currency)
    oldest = overdue[0] if overdue else ("", Decimal(0), 0)
    ctx = {
        "customer": _CUSTOMER_NAMES[customer],
        "period_name": datetime.strptime(period, "%Y-%m").strftime("%B %Y"),
        "open_phrase": _count(len(invoices), "open invoice"),
        "overdue_phrase_cap": (
            _count(len(overdue), "invoice") + (" is" if len(overdue) == 1 else " are")
        ).capitalize(),
        "reminder_phrase": _count(len(reminders), "reminder"),
        "reminder_phrase_cap": _count(len(reminders), "reminder").capitalize(),
        "total": _display_money(total, currency),
        "oldest_id": oldest[0],
        "oldest_amount": _display_money(oldest[1], currency),
        "oldest_days": oldest[2],
        "fee": _display_money(fee, currency),
    }
    review = [_INVOICE_REVIEW_OPEN]
    review += (
        [_INVOICE_REVIEW_OVERDUE, _INVOICE_REVIEW_REST, _INVOICE_REVIEW_TONE]
        if overdue
        else [_INVOICE_NOTHING_DUE]
    )
    if reminders:
        summary_middle = _INVOICE_SUMMARY_REMINDERS
    else:
        summary_middle = _INVOICE_SUMMARY_FLAGGED if overdue else _INVOICE_SUMMARY_NONE
    query = {"customer": customer, "status": "open", "period": period}
    listing = {"count": len(invoices), "overdue": len(overdue), "open_total": _money(total)}
    steps: list[Step] = [
        LogLine("info", f"collecting open invoices for {customer} ({period})", "invoice_bot.agent"),
        LLMCall("plan", "gpt-4o-mini", _sentences(rng, _INVOICE_PLAN, ctx), rng.randint(700, 1400)),
        ToolCall(
            "quickbooks.list_invoices",
            query,
            json.dumps(listing),
            (350, 1600),
            (_http("GET", "https://quickbooks.api.intuit.com/v3/company/4620816365/query"),),
        ),
        LLMCall("review", "gpt-4o", _sentences(rng, review, ctx), rng.randint(1800, 4200)),
    ]
    for invoice_id, _amount, days in reminders:
        template = "overdue_firm" if days > 30 else "overdue_friendly"
        steps.append(
            ToolCall(
                "send_email",
                {"to": f"billing@{customer}.com", "template": template, "invoice": invoice_id},
                f"queued message <{_hex(rng, 16)}@mail.charm.dev>",
                (180, 700),
                (_http("POST", "https://api.sendgrid.com/v3/mail/send", "202 Accepted"),),
            )
        )
    steps.append(Billing(customer, currency, fee, f"Invoice processing, {ctx['period_name']}"))
    summary = (_INVOICE_SUMMARY_DONE, summary_middle, _INVOICE_SUMMARY_FEE)
    steps.append(
        LLMCall("summary", "gpt-4o-mini", _sentences(rng, summary, ctx), rng.randint(900, 1800))
    )
    outputs = {
        "customer": customer,
        "period": period,
        "open_invoices": len(invoices),
        "overdue": len(overdue),
        "reminders_sent": len(reminders),
        "open_total": _money(total),
        "fee": _money(fee),
        "currency": currency,
    }
    return Script(steps, outputs)
