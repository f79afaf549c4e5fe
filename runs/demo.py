"""Demo data for Charm Studio: realistic, deterministic protocol-v1 events.

``generate_demo_events`` simulates a small fleet of agents built on the Charm SDK
(invoice-bot, support-triage, research-assistant, data-sync, sales-outreach) over the
last ``days`` days and returns the events their runs emitted, exactly as section 2 of
DESIGN.md specifies them. The data is shaped to exercise every page:

* a daily rhythm: busy working hours on weekdays, quiet nights and weekends;
* LLM answers streamed as ``llm_new_token`` events that read as sentences, one
  ``usage`` event per call (some with prompt-cache reads), a few very long streams
  and the occasional stall;
* tool spans (mostly with ``span_id``), agent actions, logs on stdout and stderr;
* endings: about 78% succeeded (some after a tool error they recovered from), 12%
  crashes that repeat by kind with varying ids (so error groups fill up), 4%
  validation failures, a few cancelled and timed-out runs;
* failed cloud runs with a local "twin": the same inputs, run shortly before on a
  developer machine with another runtime, that succeeded (debug checklist items 1, 5);
* revenue events (charges, subscriptions, refunds of earlier charges, credits) on the
  cloud runs of the revenue-earning agents.

Pure Python (no Django, no database) and deterministic for a given ``seed`` and
``now``. ``running_run_events`` adds runs that are still in progress at ``now``.
"""

from __future__ import annotations

import json
import math
import random
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

__all__ = ["generate_demo_events", "iter_demo_ndjson", "running_run_events"]

PROTOCOL_VERSION = 1

Event = dict[str, Any]

# Runs of the history end at least this long before ``now`` (the longest timeout is
# 10 minutes), so that none of them is still running.
_HISTORY_MARGIN = timedelta(minutes=15)

# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_CENT = Decimal("0.01")


def _uuid4(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _hex(rng: random.Random, length: int) -> str:
    return f"{rng.getrandbits(4 * length):0{length}x}"


def _stripe_id(rng: random.Random, prefix: str) -> str:
    return prefix + "_" + "".join(rng.choices(_ALNUM, k=24))


def _money(amount: Decimal) -> str:
    """A decimal string with two places, as the protocol wants amounts."""
    return str(amount.quantize(_CENT))


def _display_money(amount: Decimal, currency: str) -> str:
    symbol = {"USD": "$", "EUR": "€"}[currency]
    return f"{symbol}{amount.quantize(_CENT):,}"


def _count(n: int, noun: str) -> str:
    """``_count(1, "invoice")`` is "one invoice", ``_count(3, "invoice")`` "3 invoices"."""
    return f"one {noun}" if n == 1 else f"{n} {noun}s"


def _format_ts(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _utc_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        return now.replace(tzinfo=UTC)
    return now.astimezone(UTC)


def _sentences(rng: random.Random, slots: Sequence[Sequence[str]], ctx: dict[str, Any]) -> str:
    """One sentence per slot, each picked among the slot's variants and filled in."""
    return " ".join(rng.choice(variants).format(**ctx) for variants in slots)


# BPE-like pieces: a word with its leading space, up to three digits, one punctuation
# mark, or a run of whitespace. Long words are cut further, like real tokenizers do.
_TOKEN_RE = re.compile(r" ?[A-Za-z]+| ?\d{1,3}| ?[^\sA-Za-z\d]|\s+")
_SUBWORD_SIZES = (6, 4, 5)
_LONG_WORD = 8


def _tokenize(text: str) -> list[str]:
    """Split ``text`` into token-sized pieces whose concatenation is exactly ``text``."""
    tokens: list[str] = []
    for piece in _TOKEN_RE.findall(text):
        if len(piece) <= _LONG_WORD or not piece.strip().isalpha():
            tokens.append(piece)
            continue
        start, index = 0, 0
        while start < len(piece):
            size = _SUBWORD_SIZES[index % len(_SUBWORD_SIZES)]
            tokens.append(piece[start : start + size])
            start, index = start + size, index + 1
    return tokens


# ---------------------------------------------------------------------------
# What an agent does in a run: content only, timing comes from the simulator
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LogLine:
    """A log line the agent writes (warnings and errors go to stderr)."""

    level: str
    message: str
    logger: str | None = None


@dataclass(frozen=True)
class LLMCall:
    """One streamed LLM call: its whole answer, streamed token by token."""

    purpose: str
    model: str
    text: str
    input_tokens: int


@dataclass(frozen=True)
class ToolCall:
    """One tool invocation, announced by an ``agent_action``."""

    tool: str
    tool_input: Any
    output: str
    duration_ms: tuple[int, int]
    logs: tuple[LogLine, ...] = ()


@dataclass(frozen=True)
class Billing:
    """The agent charges a customer (through Stripe) for the work of this run."""

    customer: str
    currency: str
    amount: Decimal
    description: str

    tool = "stripe.create_charge"


Step = LogLine | LLMCall | ToolCall | Billing


@dataclass(frozen=True)
class Script:
    """What a run does when all goes well, and what it returns."""

    steps: list[Step]
    outputs: dict[str, Any]


def _step_key(step: Step) -> str | None:
    """The name a crash kind uses to say where it strikes: a tool or an LLM purpose."""
    if isinstance(step, ToolCall | Billing):
        return step.tool
    if isinstance(step, LLMCall):
        return step.purpose
    return None


def _http(method: str, url: str, status: str = "200 OK") -> LogLine:
    return LogLine("info", f'HTTP Request: {method} {url} "HTTP/1.1 {status}"', "httpx")


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


# ---------------------------------------------------------------------------
# support-triage
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ticket:
    subject: str
    category: str
    priority: str
    group: str
    summary: str
    reply: tuple[str, ...]
    article: str


_TICKETS: tuple[_Ticket, ...] = (
    _Ticket(
        "Charged twice for the November invoice",
        "billing",
        "high",
        "Billing",
        "The customer was charged twice for the same invoice and wants the duplicate refunded.",
        (
            "I can see what happened: the invoice was paid once when it was issued and again "
            "when the card on file was updated, so the second payment is a duplicate.",
            "I've asked our billing team to refund it, and it usually shows up on your "
            "statement within five to ten business days.",
            "You don't need to do anything else, and your subscription stays active meanwhile.",
        ),
        "Why was I charged twice?",
    ),
    _Ticket(
        "Cannot log in after enabling SSO",
        "access",
        "high",
        "Identity",
        "Since SSO was switched on, nobody on the customer's team can sign in.",
        (
            "This usually happens when the identity provider sends the email address in a "
            "different attribute than the one configured in your SSO settings.",
            "Could you check that the SAML attribute is called email and matches the "
            "addresses your team signs in with?",
            "In the meantime an owner can still sign in with a password at the recovery link.",
        ),
        "Troubleshooting SAML single sign-on",
    ),
    _Ticket(
        "Export to CSV times out for large projects",
        "bug",
        "normal",
        "Engineering",
        "CSV exports of projects with more than a year of data time out after a minute.",
        (
            "I was able to reproduce the timeout with a project of a similar size.",
            "As a workaround you can export one quarter at a time using the date filter.",
            "I've passed the details to our engineers and will update you as soon as the fix "
            "is scheduled.",
        ),
        "Exporting large projects",
    ),
    _Ticket(
        "How do I add a second admin?",
        "how-to",
        "low",
        "Customer Success",
        "The customer wants to give a colleague admin rights.",
        (
            "You can do this under Settings, then Members: choose the colleague and change "
            "their role to Admin.",
            "Only owners can promote someone, so if the option is greyed out, ask the account "
            "owner to do it.",
        ),
        "Roles and permissions",
    ),
    _Ticket(
        "Webhook deliveries failing with 401",
        "integration",
        "high",
        "Engineering",
        "Every webhook delivery to the customer's endpoint has been rejected with 401 since "
        "yesterday.",
        (
            "A 401 from your endpoint usually means the signing secret changed on one side "
            "but not the other.",
            "If you rotated the secret recently, please paste the new one into the webhook "
            "settings and use the resend button for the failed deliveries.",
            "Failed deliveries are kept for seven days, so nothing has been lost yet.",
        ),
        "Verifying webhook signatures",
    ),
    _Ticket(
        "Request to cancel our subscription",
        "billing",
        "normal",
        "Billing",
        "The customer wants to cancel at the end of the current billing period.",
        (
            "I'm sorry to see you go, and I've scheduled the cancellation for the end of your "
            "current billing period.",
            "You keep full access until then, and you can export your data at any time "
            "before that date.",
            "If there is anything we could have done better, I'd really like to hear it.",
        ),
        "Cancelling or pausing a plan",
    ),
    _Ticket(
        "API rate limit too low for our nightly sync",
        "limits",
        "normal",
        "Customer Success",
        "The customer's nightly sync hits the API rate limit and asks for a higher quota.",
        (
            "Your plan allows 100 requests per ten seconds, and the nightly sync is bursting "
            "well above that for a few minutes.",
            "Batch endpoints would cut the number of requests by about ninety percent, and "
            "I've linked the guide below.",
            "If that is not enough, I can ask the team about a temporary increase.",
        ),
        "Working with rate limits",
    ),
    _Ticket(
        "Dashboard shows the wrong timezone",
        "bug",
        "low",
        "Engineering",
        "Charts on the dashboard are shifted by one hour since the change to winter time.",
        (
            "The charts use the timezone saved in your profile, and it looks like it still "
            "points to a summer-time offset.",
            "Picking your city again under Profile, then Timezone, should fix it right away.",
        ),
        "Timezones in charts",
    ),
    _Ticket(
        "Need a copy of our DPA for procurement",
        "legal",
        "normal",
        "Legal",
        "The customer's procurement team needs the signed data processing agreement.",
        (
            "Our standard data processing agreement is already signed on our side and you "
            "can download it from the Legal page in your account settings.",
            "If your procurement team needs changes to it, our legal team can review a "
            "redlined version within about a week.",
        ),
        "Data processing agreement",
    ),
    _Ticket(
        "Agent run stuck in queued state",
        "incident",
        "urgent",
        "Engineering",
        "Several of the customer's runs have been queued for over twenty minutes.",
        (
            "We're seeing delays in one of our cloud regions right now and the team is "
            "already working on it.",
            "Queued runs are not lost and will start automatically once capacity is back.",
            "You can follow the progress on our status page, and I'll write again when it is "
            "resolved.",
        ),
        "Understanding run states",
    ),
)
_FIRST_NAMES = (
    "Dana", "Priya", "Tom", "Lena", "Marco", "Aisha", "Jonas", "Chloé", "Kenji", "Sofia",
    "Rahul", "Emma", "Lucas", "Hana", "Noah",
)  # fmt: skip
_PRIORITY_REASONS = {
    "urgent": "customers are blocked right now and more reports are likely to follow",
    "high": "the customer is blocked or has lost money",
    "normal": "there is a workaround, but the customer needs an answer this week",
    "low": "it is a how-to question with no impact on their work",
}
_SUPPORT_CLASSIFY = (
    (
        "I'd classify this as {category} with {priority} priority, because {reason}.",
        "Category: {category}. Priority: {priority}, since {reason}.",
    ),
    (
        "It belongs in the {group} queue.",
        "The {group} team should own it.",
        "Routing it to {group}.",
    ),
)
_SUPPORT_GREETING = (
    "Hi {first},\n\nThanks for reaching out, and sorry for the trouble.",
    "Hi {first},\n\nThank you for the clear description of the problem.",
    "Hello {first},\n\nThanks for getting in touch.",
)
_SUPPORT_ARTICLE = (
    'Our help article "{article}" has more detail if you need it.',
    'I\'ve also linked the article "{article}", which walks through this step by step.',
)
_SUPPORT_CLOSING = (
    "Let me know if anything is unclear.\n\nBest,\n{signature}",
    "I'll keep this ticket open until you confirm it works.\n\nKind regards,\n{signature}",
    "Just reply to this email if you have any other questions.\n\nBest wishes,\n{signature}",
)


def _support_inputs(rng: random.Random, start: datetime) -> dict[str, Any]:
    ticket = rng.randrange(len(_TICKETS))
    customer, _ = _pick_customer(rng)
    return {
        "ticket_id": rng.randint(40000, 59999),
        "subject": _TICKETS[ticket].subject,
        "channel": rng.choice(["email", "email", "chat", "web_form"]),
        "customer": customer,
        "requester": f"{rng.choice(_FIRST_NAMES).lower()}@{customer}.com",
    }


def _support_reply(rng: random.Random, ticket: _Ticket, first: str) -> str:
    signature = rng.choice(["Maya, Customer Support", "Ben from the Support team"])
    parts = [rng.choice(_SUPPORT_GREETING).format(first=first), " ".join(ticket.reply)]
    if rng.random() < 0.6:
        parts.append(rng.choice(_SUPPORT_ARTICLE).format(article=ticket.article))
    parts.append(rng.choice(_SUPPORT_CLOSING).format(signature=signature))
    return "\n\n".join(parts)


def _support_script(rng: random.Random, inputs: dict[str, Any]) -> Script:
    ticket = next(t for t in _TICKETS if t.subject == inputs["subject"])
    ticket_id = inputs["ticket_id"]
    first = inputs["requester"].split("@")[0].capitalize()
    ctx = {
        "category": ticket.category,
        "priority": ticket.priority,
        "group": ticket.group,
        "reason": _PRIORITY_REASONS[ticket.priority],
    }
    classification = ticket.summary + " " + _sentences(rng, _SUPPORT_CLASSIFY, ctx)
    tags = [ticket.category, inputs["channel"], "triaged-by-agent"]
    zendesk = f"https://charm.zendesk.com/api/v2/tickets/{ticket_id}"
    steps: list[Step] = [
        ToolCall(
            "zendesk.get_ticket",
            {"ticket_id": ticket_id},
            json.dumps({"id": ticket_id, "subject": ticket.subject, "comments": rng.randint(1, 6)}),
            (250, 900),
            (_http("GET", zendesk + ".json"),),
        ),
        LLMCall("classify", "claude-haiku-4-5", classification, rng.randint(1200, 2600)),
        LogLine(
            "info",
            f"ticket #{ticket_id} classified as {ticket.category}/{ticket.priority}",
            "support_triage.classifier",
        ),
        ToolCall(
            "kb_search",
            {"query": ticket.subject.lower(), "top_k": 3},
            json.dumps([{"title": ticket.article, "score": round(rng.uniform(0.71, 0.93), 2)}]),
            (120, 500),
        ),
        LLMCall(
            "draft_reply",
            "claude-sonnet-4-5",
            _support_reply(rng, ticket, first),
            rng.randint(2500, 5200),
        ),
        ToolCall(
            "zendesk.update_ticket",
            {
                "ticket_id": ticket_id,
                "priority": ticket.priority,
                "group": ticket.group,
                "tags": tags,
            },
            "ticket updated",
            (200, 700),
            (_http("PUT", zendesk + ".json"),),
        ),
    ]
    if ticket.priority == "urgent":
        steps.append(
            ToolCall(
                "slack.post_message",
                {
                    "channel": "#support-urgent",
                    "text": f"Urgent ticket #{ticket_id}: {ticket.subject}",
                },
                "message posted",
                (150, 450),
            )
        )
    outputs = {
        "ticket_id": ticket_id,
        "category": ticket.category,
        "priority": ticket.priority,
        "assigned_group": ticket.group,
        "reply_drafted": True,
    }
    return Script(steps, outputs)


# ---------------------------------------------------------------------------
# research-assistant (the long streams)
# ---------------------------------------------------------------------------

_TOPICS = (
    ("battery recycling", "Which battery recycling methods are scaling fastest in the EU?"),
    ("heat pumps", "How well do air-source heat pumps perform in cold climates?"),
    ("small modular reactors", "When could small modular reactors supply power at scale?"),
    ("vertical farming", "Is vertical farming profitable without subsidies?"),
    ("green hydrogen", "What does green hydrogen cost to produce today, and where is it heading?"),
    ("offshore wind", "Why are offshore wind auctions failing to attract bids?"),
    ("grid-scale storage", "Which grid-scale storage technologies beat lithium-ion on cost?"),
    ("carbon capture", "Does direct air capture have a credible path to $100 per tonne?"),
)  # fmt: skip
_SOURCES = (
    "the European Commission", "the IEA", "BloombergNEF", "Nature Energy", "Reuters",
    "the OECD", "an MIT working paper", "the Financial Times", "a Fraunhofer study",
    "Ember", "the US Department of Energy", "a Lazard cost analysis",
)  # fmt: skip
_SITES = (
    "iea.org", "ec.europa.eu", "about.bnef.com", "nature.com", "reuters.com", "oecd.org",
    "energy.gov", "ember-energy.org", "ft.com", "fraunhofer.de",
)  # fmt: skip
_REPORT_OPENERS = (
    "", "", "", "", "According to {source}, ", "Across the sources I read, ", "By contrast, ",
    "Notably, ", "On balance, ", "As {source} points out, ", "In practice, ", "At the same time, ",
)  # fmt: skip
_REPORT_CLAIMS = (
    "{topic} has moved from pilot projects to commercial deployments in at least {n} countries.",
    "costs for {topic} fell by roughly {pct}% between {year0} and {year}.",
    "the main bottleneck for {topic} is no longer the technology but permitting and grid access.",
    "most published figures on {topic} come from vendors, so they should be read with care.",
    "public funding still covers about {pct}% of the capital spent on {topic}.",
    "the largest operators in {topic} report utilisation of around {pct}% in their first year.",
    "the rules for {topic} still differ sharply from one country to the next.",
    "independent studies of {topic} disagree mostly on how they count lifetime emissions.",
    "investment in {topic} reached an estimated {billions} billion dollars last year.",
    "the supply chain for {topic} is concentrated in a handful of manufacturers.",
    "smaller players in {topic} tend to compete on service rather than on price.",
    "analysts expect a wave of consolidation in {topic} over the next {n} years.",
    "the more careful forecasts put growth in {topic} at {pct}% a year until {year2}.",
    "early projects in {topic} ran over budget by an average of {pct}%.",
    "customer surveys show that reliability matters more than headline cost for {topic}.",
    "skills shortages are slowing down {topic} in several regions.",
    "there is little peer-reviewed evidence yet on the long-term performance of {topic}.",
    "the policy debate around {topic} now focuses on standards and certification.",
    "two of the sources I checked contradict each other on the market size of {topic}.",
    "financing terms for {topic} have improved as the track record grew.",
    "local opposition has delayed at least {n} large {topic} projects this year.",
    "the economics of {topic} depend heavily on interest rates.",
    "data on {topic} outside Europe and North America is still patchy.",
    "a typical {topic} project now takes about {months} months from approval to operation.",
    "end-of-life handling remains an open question for {topic}.",
    "the newest designs in {topic} promise lower maintenance, but few were tested at scale.",
    "grid operators have started to publish connection queues that include {topic}.",
    "the share of {topic} in new capacity rose to {pct}% in {year}.",
    "the first large {topic} projects are now reaching the end of their warranty periods.",
    "buyers increasingly ask for independent performance data before they commit to {topic}.",
    "the learning curve for {topic} looks steeper than it did in {year0}.",
    "{source} expects {topic} to need far less public support by {year2}.",
    "the gap between announced and completed {topic} projects is still wide.",
    "labour makes up a surprisingly large share of the cost of {topic}.",
    "a few large buyers account for most of the demand for {topic}.",
    "standard contracts for {topic} are only now starting to emerge.",
)
_REPORT_SECTIONS = (
    "Background", "Key findings", "Costs and economics", "Risks and open questions",
    "What to watch", "Recommendation",
)  # fmt: skip
_REPORT_CLOSINGS = (
    "My recommendation: treat {topic} as promising but early, and revisit these numbers in six "
    "months.",
    "In short, {topic} is worth a pilot, but not yet a large commitment without independent data.",
    "Overall, the case for {topic} is getting stronger, and the main risks are policy and "
    "financing rather than technology.",
)
_RESEARCH_PLAN = (
    (
        "To answer this, I'll search for recent reports on {topic} from public agencies and "
        "industry analysts.",
        "I'll begin with a broad search on {topic}, then narrow down to sources from the last "
        "two years.",
    ),
    (
        "Then I'll read the most relevant sources in full and note the figures they agree on.",
        "I'll read the strongest sources and keep track of where they disagree.",
    ),
    (
        "Finally I'll write a report with a summary, the key findings and a recommendation, "
        "and save it to Google Drive.",
        "The result will be a structured report in the shared Research folder.",
    ),
)
_RESEARCH_NOTES = (
    "This source focuses on {topic} in Europe and gives figures up to {year}.",
    "The page is mostly a press release, but it cites a survey of {n} operators.",
    "It estimates that costs for {topic} fell by about {pct}% over five years.",
    "The authors are careful to separate announced projects from those already built.",
    "Useful for the section on risks: it lists permitting delays as the main problem.",
    "The numbers here are older than the other sources, so I'll use them only for context.",
)


class _ReportWriter:
    """Writes report sentences about a topic, using every claim once before repeating."""

    def __init__(self, rng: random.Random, topic: str) -> None:
        self.rng = rng
        self.topic = topic
        self.claims: list[str] = []

    def sentence(self) -> str:
        if not self.claims:
            self.claims = list(_REPORT_CLAIMS)
            self.rng.shuffle(self.claims)
        rng = self.rng
        year = rng.randint(2022, 2025)
        values = {
            "topic": self.topic,
            "source": rng.choice(_SOURCES),
            "year": year,
            "year0": year - rng.randint(3, 8),
            "year2": rng.choice([2030, 2035]),
            "n": rng.randint(3, 14),
            "pct": rng.randint(8, 65),
            "months": rng.randint(14, 40),
            "billions": rng.randint(2, 48),
        }
        sentence = (rng.choice(_REPORT_OPENERS) + self.claims.pop()).format(**values)
        return sentence[0].upper() + sentence[1:]

    def paragraph(self) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(3, 5)))


def _research_report(rng: random.Random, topic: str, question: str, target_tokens: int) -> str:
    """A markdown report of about ``target_tokens`` tokens, in readable sentences."""
    writer = _ReportWriter(rng, topic)
    parts = [
        f"# {topic.capitalize()}: research notes",
        f"## Summary\n\nThis report answers the question: {question} {writer.paragraph()}",
    ]
    section_count = max(2, min(len(_REPORT_SECTIONS), target_tokens // 400))
    sections = (*_REPORT_SECTIONS[: section_count - 1], _REPORT_SECTIONS[-1])
    tokens = sum(len(_tokenize(part)) for part in parts)
    for index, section in enumerate(sections, start=1):
        parts.append(f"## {section}")
        while True:
            paragraph = writer.paragraph()
            parts.append(paragraph)
            tokens += len(_tokenize(paragraph)) + 1
            if tokens >= target_tokens * index / len(sections):
                break
    parts.append(rng.choice(_REPORT_CLOSINGS).format(topic=topic))
    sources = "\n".join(f"- {source[0].upper()}{source[1:]}" for source in rng.sample(_SOURCES, 5))
    parts.append("## Sources\n\n" + sources)
    return "\n\n".join(parts)


def _research_inputs(rng: random.Random, start: datetime) -> dict[str, Any]:
    _, question = rng.choice(_TOPICS)
    return {
        "question": question,
        "depth": "deep" if rng.random() < 0.22 else "standard",
        "max_sources": rng.choice([5, 8, 10, 12]),
        "output": "google-doc",
        "folder": "Research",
        "requested_by": rng.choice(["nina@charm.dev", "omar@charm.dev", "julia@charm.dev"]),
    }


def _research_script(rng: random.Random, inputs: dict[str, Any]) -> Script:
    topic = next(t for t, q in _TOPICS if q == inputs["question"])
    deep = inputs["depth"] == "deep"
    ctx = {"topic": topic}
    steps: list[Step] = [
        LLMCall(
            "plan",
            "claude-sonnet-4-5",
            _sentences(rng, _RESEARCH_PLAN, ctx),
            rng.randint(2200, 3800),
        ),
    ]
    for suffix in rng.sample(
        ["costs 2025", "market outlook", "policy Europe", "statistics", "risks"], rng.randint(1, 3)
    ):
        steps.append(
            ToolCall(
                "search",
                {"query": f"{topic} {suffix}", "num_results": 10},
                json.dumps({"results": 10, "top": f"https://www.{rng.choice(_SITES)}/"}),
                (600, 2200),
            )
        )
    sites = rng.sample(_SITES, rng.randint(4, 6) if deep else rng.randint(2, 3))
    for site in sites:
        url = f"https://www.{site}/{topic.replace(' ', '-')}/{rng.randint(1000, 9999)}"
        steps.append(
            ToolCall(
                "fetch_url",
                {"url": url},
                f"fetched {rng.randint(18, 240)} KB (text/html)",
                (700, 4800),
                (_http("GET", url),),
            )
        )
        note = " ".join(
            rng.choice(_RESEARCH_NOTES).format(
                topic=topic,
                year=rng.randint(2022, 2025),
                n=rng.randint(40, 400),
                pct=rng.randint(10, 60),
            )
            for _ in range(rng.randint(2, 3))
        )
        steps.append(LLMCall("summarize_source", "gpt-4o-mini", note, rng.randint(3000, 9000)))
    target = rng.randint(1000, 3000) if deep else rng.randint(250, 600)
    report = _research_report(rng, topic, inputs["question"], target)
    steps.append(LLMCall("write_report", "claude-sonnet-4-5", report, rng.randint(9000, 24000)))
    doc_id = "".join(rng.choices(_ALNUM, k=44))
    title = f"{topic.capitalize()}: research notes"
    steps.append(
        ToolCall(
            "google_drive.create_doc",
            {"title": title, "folder": inputs["folder"]},
            json.dumps({"doc_id": doc_id, "url": f"https://docs.google.com/document/d/{doc_id}"}),
            (500, 1800),
            (_http("POST", "https://docs.googleapis.com/v1/documents"),),
        )
    )
    outputs = {
        "title": title,
        "doc_url": f"https://docs.google.com/document/d/{doc_id}",
        "sources": len(sites),
        "words": len(report.split()),
    }
    return Script(steps, outputs)


# ---------------------------------------------------------------------------
# data-sync
# ---------------------------------------------------------------------------

_SYNC_SOURCES = (
    # source, table, destination object
    ("postgres://crm-replica", "contacts", "contacts"),
    ("postgres://billing", "accounts", "companies"),
    ("mysql://shop", "orders", "deals"),
)
_SYNC_MAPPING = (
    (
        "The {table} table has {columns} columns and {rows} rows changed since the last sync.",
        "Since the last sync, {rows} rows of {table} have changed across {columns} columns.",
    ),
    (
        "Most columns map directly onto HubSpot {object} properties with the same name.",
        "Name, email, owner and lifecycle fields map one to one onto the {object} object.",
    ),
    (
        "The lifecycle column has no direct match, so it goes to the custom property "
        "crm_lifecycle.",
        "The phone column mixes formats, so I'll normalise it to E.164 before upserting.",
        "Two columns, owner_id and region, need the owners lookup table from the last run.",
    ),
    (
        "Rows without a valid key are skipped and listed in the audit file.",
        "Anything that fails validation is skipped and written to the audit log instead.",
    ),
)


def _sync_inputs(rng: random.Random, start: datetime) -> dict[str, Any]:
    source, table, _ = rng.choice(_SYNC_SOURCES)
    since = (start - timedelta(hours=rng.choice([1, 2, 6, 24]))).replace(
        minute=0, second=0, microsecond=0
    )
    return {
        "source": f"{source}/{table}",
        "destination": "hubspot",
        "since": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "batch_size": rng.choice([100, 250, 500]),
        "full_resync": False,
    }


def _sync_script(rng: random.Random, inputs: dict[str, Any]) -> Script:
    table = inputs["source"].rsplit("/", 1)[-1]
    hub_object = next(obj for _, name, obj in _SYNC_SOURCES if name == table)
    batch_size = inputs["batch_size"]
    rows = rng.randint(60_000, 90_000) if inputs["full_resync"] else rng.randint(40, 4_800)
    batches = math.ceil(rows / batch_size)
    ctx = {"table": table, "columns": rng.randint(9, 24), "rows": f"{rows:,}", "object": hub_object}
    sql = f"SELECT * FROM {table} WHERE updated_at > %(since)s ORDER BY id"
    steps: list[Step] = [
        ToolCall(
            "postgres.query",
            {"sql": sql, "params": {"since": inputs["since"]}},
            f"{rows} rows",
            (300, 2500),
        ),
        LLMCall(
            "map_fields",
            "gpt-4o-mini",
            _sentences(rng, _SYNC_MAPPING, ctx),
            rng.randint(1500, 3200),
        ),
    ]
    created = updated = skipped = 0
    url = f"https://api.hubapi.com/crm/v3/objects/{hub_object}/batch/upsert"
    for batch in range(1, batches + 1):
        size = min(batch_size, rows - (batch - 1) * batch_size)
        new = rng.randint(0, size // 8)
        bad = rng.choice([0, 0, 0, 1, 2])
        created, updated, skipped = created + new, updated + size - new - bad, skipped + bad
        result = {"created": new, "updated": size - new - bad, "errors": bad}
        logs: tuple[LogLine, ...] = (_http("POST", url),)
        if bad:
            logs += (
                LogLine(
                    "warning",
                    f"batch {batch}: skipped {_count(bad, 'row')} with an invalid email address",
                    "data_sync.validate",
                ),
            )
        steps.append(
            ToolCall(
                "hubspot.batch_upsert",
                {"object": hub_object, "batch": batch, "size": size},
                json.dumps(result),
                (900, 3500),
                logs,
            )
        )
        steps.append(LogLine("info", f"batch {batch}/{batches}: upserted {size} {hub_object}"))
    key = f"{table}/{inputs['since'][:10]}.jsonl"
    steps.append(
        ToolCall(
            "s3.put_object",
            {"bucket": "charm-sync-audit", "key": key},
            f"s3://charm-sync-audit/{key}",
            (150, 600),
        )
    )
    outputs = {
        "rows_read": rows,
        "created": created,
        "updated": updated,
        "skipped": skipped,
        "batches": batches,
    }
    return Script(steps, outputs)


# ---------------------------------------------------------------------------
# sales-outreach
# ---------------------------------------------------------------------------

_LEADS = (
    # company, domain, industry, city
    ("Hooli", "hooli.com", "software", "Palo Alto"),
    ("Pied Piper", "piedpiper.com", "data compression", "Palo Alto"),
    ("Vandelay Industries", "vandelay.com", "import and export", "New York"),
    ("Massive Dynamic", "massivedynamic.com", "biotech", "Boston"),
    ("Cyberdyne Systems", "cyberdyne.ai", "robotics", "Sunnyvale"),
    ("Soylent", "soylent.co", "food", "Los Angeles"),
    ("Tyrell", "tyrell.io", "biotech", "Seattle"),
    ("Aperture Science", "aperture.dev", "research", "Cleveland"),
    ("Brightwave", "brightwave.de", "energy", "Hamburg"),
    ("Kestrel Analytics", "kestrel.fr", "analytics", "Lyon"),
)
_LEAD_PEOPLE = (
    ("Gavin", "VP Engineering"), ("Monica", "Head of Operations"), ("Art", "CTO"),
    ("Nina", "Director of Data"), ("Miles", "Head of Platform"), ("Rosa", "COO"),
    ("Felix", "VP Sales"), ("Ines", "Head of Finance"),
)  # fmt: skip
_SALES_BRIEF = (
    (
        "{company} is a {industry} company with roughly {employees} employees, headquartered "
        "in {city}.",
        "{company} ({domain}) works in {industry}, employs about {employees} people and is "
        "based in {city}.",
    ),
    (
        "They announced a funding round of {funding} million dollars this spring.",
        "They are hiring {hires} engineers, mostly for platform and data roles.",
        "Their status page shows {hires} incidents last quarter, most of them in their API.",
        "They opened a second office this year and doubled their operations team.",
    ),
    (
        "{first} joined as {title} {months} months ago and owns the tooling budget.",
        "{first}, their {title}, has been posting about automating manual back-office work.",
    ),
    (
        "The best angle is time saved on repetitive work, with a short case study from a "
        "similar company.",
        "I'd lead with reliability and the audit trail, since they operate in a regulated space.",
        "A concrete number will land better than a feature list, so I'll open with one.",
    ),
)
_SALES_EMAIL_BODY = (
    (
        "I saw that {company} is growing its {area} team, congratulations.",
        "I noticed {company} has been scaling {area} quickly this year.",
        "Your recent post about back-office automation at {company} caught my eye.",
    ),
    (
        "Teams like yours use our agents to take the repetitive part of {area} off their plate; "
        "one {industry} customer saved about {hours} hours a week in the first month.",
        "We help {industry} teams automate the manual steps in {area}, and most see results "
        "within two weeks.",
    ),
    (
        "Would a 20-minute call next week be useful?",
        "Are you open to a short call on {day} to see if it fits?",
        "If it sounds relevant, I'd be happy to show you a five-minute demo.",
    ),
)


def _sales_inputs(rng: random.Random, start: datetime) -> dict[str, Any]:
    company, domain, _, _ = rng.choice(_LEADS)
    first, title = rng.choice(_LEAD_PEOPLE)
    customer, currency = _pick_customer(rng)
    return {
        "lead": {"company": company, "domain": domain, "contact": first, "title": title},
        "customer": customer,
        "currency": currency,
        "sequence": rng.choice(["q4-outbound", "webinar-follow-up", "expansion"]),
        "tone": rng.choice(["friendly", "concise"]),
    }


def _sales_script(rng: random.Random, inputs: dict[str, Any]) -> Script:
    lead = inputs["lead"]
    company, domain = lead["company"], lead["domain"]
    _, _, industry, city = next(row for row in _LEADS if row[0] == company)
    ctx = {
        "company": company,
        "domain": domain,
        "industry": industry,
        "city": city,
        "first": lead["contact"],
        "title": lead["title"],
        "employees": rng.choice([80, 140, 320, 650, 1200, 4800]),
        "funding": rng.choice([12, 30, 45, 80]),
        "hires": rng.randint(3, 18),
        "months": rng.randint(2, 20),
        "area": rng.choice(["operations", "finance", "data", "customer support"]),
        "hours": rng.randint(6, 30),
        "day": rng.choice(["Tuesday", "Wednesday", "Thursday"]),
        "sender": rng.choice(["Jamie Chen", "Alex Moreau", "Sam Whitfield"]),
    }
    email = (
        f"Hi {ctx['first']},\n\n{_sentences(rng, _SALES_EMAIL_BODY, ctx)}\n\nBest,\n{ctx['sender']}"
    )
    booked = rng.random() < 0.3
    company_id = rng.randint(10_000_000, 99_999_999)
    steps: list[Step] = [
        ToolCall(
            "hubspot.get_company",
            {"domain": domain},
            json.dumps({"id": company_id, "name": company, "lifecycle": "lead"}),
            (200, 700),
            (_http("GET", f"https://api.hubapi.com/crm/v3/objects/companies/{company_id}"),),
        ),
        ToolCall(
            "enrich_company",
            {"domain": domain},
            json.dumps({"industry": industry, "employees": ctx["employees"], "city": city}),
            (400, 1800),
        ),
        LLMCall(
            "research_brief", "gpt-4o", _sentences(rng, _SALES_BRIEF, ctx), rng.randint(2000, 4500)
        ),
        LLMCall("draft_email", "gpt-4o", email, rng.randint(2500, 5000)),
        ToolCall(
            "gmail.send",
            {
                "to": f"{lead['contact'].lower()}@{domain}",
                "subject": f"{company} and {ctx['area']} automation",
            },
            f"sent message {_hex(rng, 16)}",
            (300, 1100),
        ),
        ToolCall(
            "hubspot.log_activity",
            {"company_id": company_id, "type": "email", "sequence": inputs["sequence"]},
            "activity logged",
            (150, 500),
        ),
    ]
    if booked:
        steps.append(
            LogLine(
                "info",
                f"meeting booked with {lead['contact']} at {company}",
                "sales_outreach.calendar",
            )
        )
        fee = Decimal("250.00") if inputs["currency"] == "USD" else Decimal("230.00")
        steps.append(
            Billing(inputs["customer"], inputs["currency"], fee, f"Meeting booked: {company}")
        )
    outputs = {
        "lead": domain,
        "email_sent": True,
        "meeting_booked": booked,
        "sequence": inputs["sequence"],
    }
    return Script(steps, outputs)


# ---------------------------------------------------------------------------
# Crashes: kinds that repeat across runs, with realistic tracebacks
# ---------------------------------------------------------------------------

# Traceback text uses {lib} for the Python library folder and {site} for its
# site-packages, filled in with the run's Python version.
_RUNNER_FRAMES = """\
  File "{site}/charm/runtime/runner.py", line 214, in run
    result = await agent.ainvoke(inputs, callbacks=self.callbacks)
  File "{site}/charm/agent.py", line 131, in ainvoke
    return await self._loop(inputs)
  File "{site}/charm/agent.py", line 188, in _loop
    observation = await self._run_step(action)"""
_HTTPX_FRAMES = """\
  File "{site}/charm/http.py", line 81, in request
    return await self._client.request(method, url, **kwargs)
  File "{site}/httpx/_client.py", line 1585, in request
    return await self.send(request, auth=auth, follow_redirects=follow_redirects)
  File "{site}/httpx/_transports/default.py", line 118, in map_httpcore_exceptions
    raise mapped_exc(message) from exc
httpx.ReadTimeout: timed out"""
_HTTP_RAISE = """\
  File "{site}/charm/http.py", line 88, in request
    raise TimeoutError(f"HTTP {method} {url} timed out after {timeout} s") from exc"""
_CHAINED = "\n\nThe above exception was the direct cause of the following exception:\n\n"


@dataclass(frozen=True)
class _Crash:
    """A way an agent crashes: where (a tool or an LLM purpose), with what error.

    ``message`` is a template filled per occurrence (see ``_crash_values``), so the same
    crash repeats with other ids and numbers. ``frames`` are the traceback lines
    below the runner's own frames; ``cause``, when set, is a whole chained exception
    printed before it.
    """

    at: str
    error_type: str
    message: str
    frames: str
    cause: str = ""
    delay_ms: tuple[int, int] = (5, 60)
    warning: LogLine | None = None  # logged as the run starts
    retries: int = 0  # "attempt i of n timed out" warnings before the crash

    def render(
        self, rng: random.Random, inputs: dict[str, Any], step_input: Any, python: str
    ) -> tuple[str, str]:
        """The message and the traceback of one occurrence, on Python ``python``."""
        message = self.message.format(**_crash_values(rng, inputs, step_input))
        traceback = f"Traceback (most recent call last):\n{_RUNNER_FRAMES}\n{self.frames}"
        if self.cause:
            traceback = self.cause + _CHAINED + traceback
        traceback += f"\n{self.error_type}: {message}"
        lib = f"/usr/local/lib/python{python}"
        return message, traceback.replace("{site}", f"{lib}/site-packages").replace("{lib}", lib)


def _crash_values(rng: random.Random, inputs: dict[str, Any], step_input: Any) -> dict[str, Any]:
    """What crash messages can mention: the run's inputs, the failing tool's input, and
    fresh ids and numbers."""
    values = {
        "ticket_id": inputs.get("ticket_id", 0),
        "request": rng.randint(1_000_000, 9_999_999),
        "realm": rng.randint(10**15, 10**16 - 1),
        "page": rng.randint(100_000, 999_999),
    }
    if isinstance(step_input, dict):
        values.update(step_input)
    return values


def _missing_env(at: str, name: str, frame: str) -> _Crash:
    return _Crash(
        at=at,
        error_type="KeyError",
        message=f"'{name}'",
        frames=f'{frame}\n  File "<frozen os>", line 714, in __getitem__',
        warning=LogLine(
            "warning",
            f"{name} is listed in required_env but is not set in this environment",
            "charm.runtime.env",
        ),
    )


def _oauth_not_connected(at: str, connection: str, frame: str) -> _Crash:
    return _Crash(
        at=at,
        error_type="charm.errors.OAuthConnectionError",
        message=f"OAuth connection '{connection}' is not connected (request {{request}})",
        frames=frame
        + '\n  File "{site}/charm/oauth.py", line 142, in get_token'
        + "\n    raise OAuthConnectionError(name, request_id=request_id)",
        warning=LogLine(
            "warning",
            f"OAuth connection '{connection}' has no valid token; tools that use it will fail",
            "charm.oauth",
        ),
    )


def _http_timeout(at: str, message: str, frame: str, seconds: int, retries: int = 0) -> _Crash:
    return _Crash(
        at=at,
        error_type="TimeoutError",
        message=message,
        frames=f"{frame}\n{_HTTP_RAISE}",
        cause=f"Traceback (most recent call last):\n{_HTTPX_FRAMES}",
        delay_ms=(seconds * 1000, seconds * 1000 + 400),
        retries=retries,
    )


_STRIPE_KEY_MISSING = _missing_env(
    "stripe.create_charge",
    "STRIPE_API_KEY",
    '  File "/app/invoice_bot/billing.py", line 42, in charge_processing_fee\n'
    '    client = stripe.StripeClient(os.environ["STRIPE_API_KEY"])',
)
_QUICKBOOKS_TIMEOUT = _http_timeout(
    "quickbooks.list_invoices",
    "HTTP GET https://quickbooks.api.intuit.com/v3/company/{realm}/query timed out after 30.0 s",
    '  File "/app/invoice_bot/tools/quickbooks.py", line 67, in list_invoices\n'
    '    resp = await self.http.get(url, params={"query": query}, timeout=30.0)',
    seconds=30,
)
_CLASSIFIER_JSON = _Crash(
    at="classify",
    error_type="ValueError",
    message="classifier output for ticket #{ticket_id} is not valid JSON: "
    "Expecting value: line 1 column 1 (char 0)",
    frames="""\
  File "/app/support_triage/classifier.py", line 58, in classify
    raise ValueError(f"classifier output for ticket #{ticket.id} is not valid JSON: {exc}")""",
    cause="""\
Traceback (most recent call last):
  File "/app/support_triage/classifier.py", line 55, in classify
    data = json.loads(text)
  File "{lib}/json/__init__.py", line 346, in loads
    return _default_decoder.decode(s)
  File "{lib}/json/decoder.py", line 338, in decode
    obj, end = self.raw_decode(s, idx=_w(s, 0).end())
  File "{lib}/json/decoder.py", line 356, in raw_decode
    raise JSONDecodeError("Expecting value", s, err.value) from None
json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)""",
)
_ZENDESK_TOKEN_MISSING = _missing_env(
    "zendesk.get_ticket",
    "ZENDESK_API_TOKEN",
    '  File "/app/support_triage/tools/zendesk.py", line 19, in client\n'
    '    token = os.environ["ZENDESK_API_TOKEN"]',
)
_GOOGLE_DRIVE_NOT_CONNECTED = _oauth_not_connected(
    "google_drive.create_doc",
    "google-drive",
    '  File "/app/research_assistant/publish.py", line 23, in publish_report\n'
    "    doc = await drive.create_document(title, body, folder=folder)",
)
_FETCH_TIMEOUT = _http_timeout(
    "fetch_url",
    "HTTP GET https://fetch.charm.dev/v1/pages/{page} timed out after 20.0 s",
    '  File "/app/research_assistant/tools/fetch.py", line 31, in fetch_url\n'
    "    page = await self.http.get(endpoint, timeout=20.0)",
    seconds=20,
    retries=2,
)
_HUBSPOT_TIMEOUT = _http_timeout(
    "hubspot.batch_upsert",
    "HTTP POST https://api.hubapi.com/crm/v3/objects/{object}/batch/upsert timed out "
    "after 30.0 s (batch {batch})",
    '  File "/app/data_sync/sinks/hubspot.py", line 112, in upsert_batch\n'
    "    resp = await self.http.post(url, json=payload, timeout=30.0)",
    seconds=30,
)
_POSTGRES_UNREACHABLE = _Crash(
    at="postgres.query",
    error_type="psycopg.OperationalError",
    message='connection failed: connection to server at "10.0.3.17", port 5432 failed: '
    "timeout expired",
    frames="""\
  File "/app/data_sync/sources/postgres.py", line 40, in fetch_changed
    async with await psycopg.AsyncConnection.connect(self.dsn) as conn:
  File "{site}/psycopg/connection_async.py", line 134, in connect
    raise last_ex.with_traceback(None)""",
    delay_ms=(10_000, 10_300),
)
_GMAIL_NOT_CONNECTED = _oauth_not_connected(
    "gmail.send",
    "gmail",
    '  File "/app/sales_outreach/tools/gmail.py", line 27, in send\n'
    '    creds = await oauth.get_token("gmail")',
)
_ENRICH_TIMEOUT = _http_timeout(
    "enrich_company",
    "HTTP GET https://api.enrichly.io/v2/companies/{page} timed out after 20.0 s",
    '  File "/app/sales_outreach/tools/enrich.py", line 52, in enrich_company\n'
    "    resp = await self.http.get(url, timeout=20.0)",
    seconds=20,
)

# (agent, crash, weight): how often each kind strikes across the fleet. A few kinds
# make most crashes, so the Errors page has large groups and a long tail.
_CRASHES: tuple[tuple[str, _Crash, int], ...] = (
    ("invoice-bot", _STRIPE_KEY_MISSING, 10),
    ("research-assistant", _GOOGLE_DRIVE_NOT_CONNECTED, 6),
    ("support-triage", _CLASSIFIER_JSON, 6),
    ("data-sync", _HUBSPOT_TIMEOUT, 4),
    ("sales-outreach", _GMAIL_NOT_CONNECTED, 3),
    ("research-assistant", _FETCH_TIMEOUT, 3),
    ("invoice-bot", _QUICKBOOKS_TIMEOUT, 2),
    ("sales-outreach", _ENRICH_TIMEOUT, 2),
    ("data-sync", _POSTGRES_UNREACHABLE, 2),
    ("support-triage", _ZENDESK_TOKEN_MISSING, 1),
)

# Tool errors an agent retries and recovers from.
_TRANSIENT_ERRORS = (
    ("RateLimitError", "429 Too Many Requests: rate limit exceeded, retry after {n} s"),
    ("ConnectionResetError", "[Errno 104] Connection reset by peer"),
    ("httpx.RemoteProtocolError", "Server disconnected without sending a response."),
    ("httpx.HTTPStatusError", "Server error '503 Service Unavailable' (attempt {n})"),
)


# ---------------------------------------------------------------------------
# Agents
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Agent:
    """A demo agent: who it is, what it declares, how its runs look."""

    name: str
    versions: tuple[str, ...]  # rolled out one after the other over the period
    weight: int
    required_env: tuple[str, ...]
    oauth: tuple[str, ...]
    region: str
    timeout_s: int
    make_inputs: Callable[[random.Random, datetime], dict[str, Any]]
    make_script: Callable[[random.Random, dict[str, Any]], Script]
    tools: tuple[str, ...]  # as declared in its charm.yaml; the first lacks a schema sometimes

    @property
    def logger(self) -> str:
        return self.name.replace("-", "_")

    def config(self) -> dict[str, Any]:
        """The ``config`` of its ``run_start``: names only, never values."""
        return {
            "required_env": list(self.required_env),
            "oauth": list(self.oauth),
            "timeout_s": self.timeout_s,
            "exporters": ["stdout", "charm_studio"],
        }

    def version_at(self, fraction: float) -> str:
        """The version deployed at ``fraction`` (0..1) of the demo period."""
        return self.versions[min(int(fraction * len(self.versions)), len(self.versions) - 1)]


_AGENTS: tuple[_Agent, ...] = (
    _Agent(
        name="invoice-bot",
        versions=("1.4.0", "1.4.1"),
        weight=26,
        required_env=(
            "STRIPE_API_KEY",
            "QUICKBOOKS_REALM_ID",
            "SENDGRID_API_KEY",
            "OPENAI_API_KEY",
        ),
        oauth=("quickbooks",),
        region="us-east-1",
        timeout_s=300,
        make_inputs=_invoice_inputs,
        make_script=_invoice_script,
        tools=(
            "send_email",
            "quickbooks.list_invoices",
            "stripe.create_charge",
            "stripe.create_refund",
        ),
    ),
    _Agent(
        name="support-triage",
        versions=("2.3.0",),
        weight=26,
        required_env=("ZENDESK_API_TOKEN", "ANTHROPIC_API_KEY", "SLACK_BOT_TOKEN"),
        oauth=("slack",),
        region="eu-west-1",
        timeout_s=300,
        make_inputs=_support_inputs,
        make_script=_support_script,
        tools=("kb_search", "zendesk.get_ticket", "zendesk.update_ticket", "slack.post_message"),
    ),
    _Agent(
        name="research-assistant",
        versions=("0.9.0", "0.9.1"),
        weight=16,
        required_env=("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "SERPER_API_KEY"),
        oauth=("google-drive",),
        region="us-east-1",
        timeout_s=600,
        make_inputs=_research_inputs,
        make_script=_research_script,
        tools=("search", "fetch_url", "google_drive.create_doc"),
    ),
    _Agent(
        name="data-sync",
        versions=("3.1.2",),
        weight=16,
        required_env=(
            "DATABASE_URL",
            "HUBSPOT_API_KEY",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ),
        oauth=(),
        region="eu-west-1",
        timeout_s=600,
        make_inputs=_sync_inputs,
        make_script=_sync_script,
        tools=("hubspot.batch_upsert", "postgres.query", "s3.put_object"),
    ),
    _Agent(
        name="sales-outreach",
        versions=("1.0.4", "1.1.0"),
        weight=16,
        required_env=("HUBSPOT_API_KEY", "OPENAI_API_KEY", "STRIPE_API_KEY"),
        oauth=("gmail", "hubspot"),
        region="us-east-1",
        timeout_s=300,
        make_inputs=_sales_inputs,
        make_script=_sales_script,
        tools=(
            "enrich_company",
            "hubspot.get_company",
            "gmail.send",
            "hubspot.log_activity",
            "stripe.create_charge",
            "stripe.create_refund",
        ),
    ),
)
_AGENTS_BY_NAME = {agent.name: agent for agent in _AGENTS}

_VALIDATION_MESSAGES = (
    ("charm.yaml: tool '{tool}' requires input schema", 5),
    ("charm.yaml: line {line}: unknown key 'timeout_sec' (did you mean 'timeout_s'?)", 2),
    ("charm.yaml: exporter 'charm_otel' is not installed (charm.telemetry_exporters)", 2),
    ("charm.yaml: required_env must be a list of names, got a mapping (line {line})", 1),
)


def _validation_message(rng: random.Random, agent: _Agent) -> str:
    template = rng.choices(
        [m for m, _ in _VALIDATION_MESSAGES], [w for _, w in _VALIDATION_MESSAGES]
    )[0]
    return template.format(tool=agent.tools[0], line=rng.randint(8, 40))


def _runtime(
    rng: random.Random, environment: str, agent: _Agent, fraction: float
) -> dict[str, Any]:
    """The ``runtime`` block: cloud and docker share the runner image, local differs."""
    if environment == "local":
        return {
            "sdk_version": rng.choice(["0.14.3", "0.14.3", "0.15.0"]),
            "python": rng.choice(["3.11.9", "3.11.9", "3.11.7"]),
            "image": None,
            "region": None,
            "os": rng.choice(["macOS-14.6-arm64", "macOS-15.1-arm64", "Linux-6.8.0-x86_64"]),
        }
    sdk = "0.15.0" if fraction < 0.4 else "0.15.1"
    python = "3.12.7" if environment == "cloud" or rng.random() < 0.5 else "3.11.10"
    return {
        "sdk_version": sdk,
        "python": python,
        "image": f"ghcr.io/charm-sdk/runner:{sdk}-py{python.rsplit('.', 1)[0]}",
        "region": agent.region if environment == "cloud" else "local",
        "os": "Linux-6.1.0-x86_64",
    }


# ---------------------------------------------------------------------------
# Planning the runs: who runs when, where, and how it ends
# ---------------------------------------------------------------------------

_ENDING_SHARES = (
    ("crashed", 0.12),
    ("validation_failed", 0.04),
    ("cancelled", 0.03),
    ("timed_out", 0.03),
)
# Share of crashes that happen in the cloud right after the same inputs succeeded locally.
_TWIN_SHARE = 0.55
# Relative activity per hour of day (UTC), and on Saturdays and Sundays.
_HOURLY_ACTIVITY = (
    0.12, 0.10, 0.10, 0.10, 0.12, 0.15, 0.30, 0.55, 0.85, 1.00, 1.00, 0.95,
    0.80, 0.90, 1.00, 1.00, 0.95, 0.75, 0.55, 0.40, 0.30, 0.25, 0.20, 0.15,
)  # fmt: skip
_WEEKEND_ACTIVITY = 0.3


@dataclass
class _Plan:
    """Everything decided about a run before it is played."""

    run_id: str
    agent: _Agent
    version: str
    start: datetime
    environment: str
    ending: str  # succeeded | crashed | validation_failed | cancelled | timed_out
    inputs: dict[str, Any]
    runtime: dict[str, Any]
    script_seed: int  # the run's content; a local twin shares it
    run_seed: int  # the run's timing and ids
    crash: _Crash | None = None


def _ending_counts(runs: int) -> tuple[dict[str, int], int]:
    """How many runs end which way, and how many of the successes are local twins."""
    counts = {ending: round(share * runs) for ending, share in _ENDING_SHARES}
    if runs >= 20:
        counts = {ending: max(1, count) for ending, count in counts.items()}
    twins = round(_TWIN_SHARE * counts["crashed"])
    counts["succeeded"] = runs - sum(counts.values()) - twins
    return counts, twins


def _activity(ts: datetime) -> float:
    activity = _HOURLY_ACTIVITY[ts.hour]
    return activity * _WEEKEND_ACTIVITY if ts.weekday() >= 5 else activity


def _sample_start(rng: random.Random, low: datetime, high: datetime) -> datetime:
    """A start time in [low, high), busier in working hours (rejection sampling)."""
    span = (high - low).total_seconds()
    while True:
        ts = low + timedelta(seconds=rng.uniform(0, span))
        if rng.random() < _activity(ts):
            return ts


def _pick_agent(rng: random.Random, ending: str) -> tuple[_Agent, _Crash | None]:
    """The agent of a run, and for a crash, how it crashes."""
    if ending != "crashed":
        return rng.choices(_AGENTS, [agent.weight for agent in _AGENTS])[0], None
    name, crash, _ = rng.choices(_CRASHES, [weight for _, _, weight in _CRASHES])[0]
    return _AGENTS_BY_NAME[name], crash


def _pick_environment(rng: random.Random, ending: str) -> str:
    if ending == "crashed":
        return rng.choices(["cloud", "docker"], [85, 15])[0]
    return rng.choices(["cloud", "local", "docker"], [78, 13, 9])[0]


def _new_run_id(rng: random.Random, taken: set[str]) -> str:
    while True:
        run_id = "run_" + _hex(rng, 12)
        if run_id not in taken:
            taken.add(run_id)
            return run_id


def _plan_runs(rng: random.Random, now: datetime, runs: int, days: int) -> list[_Plan]:
    """Plans for ``runs`` finished runs spread over the ``days`` before ``now``."""
    low, high = now - timedelta(days=days), now - _HISTORY_MARGIN
    counts, twins_left = _ending_counts(runs)
    endings = [ending for ending, count in counts.items() for _ in range(count)]
    rng.shuffle(endings)
    taken: set[str] = set()
    plans: list[_Plan] = []
    for ending in endings:
        agent, crash = _pick_agent(rng, ending)
        start = _sample_start(rng, low, high)
        fraction = (start - low) / (high - low)
        has_twin = ending == "crashed" and twins_left > 0
        environment = "cloud" if has_twin else _pick_environment(rng, ending)
        script_seed = rng.getrandbits(64)
        plan = _Plan(
            run_id=_new_run_id(rng, taken),
            agent=agent,
            version=agent.version_at(fraction),
            start=start,
            environment=environment,
            ending=ending,
            inputs=agent.make_inputs(random.Random(script_seed), start),
            runtime=_runtime(rng, environment, agent, fraction),
            script_seed=script_seed,
            run_seed=rng.getrandbits(64),
            crash=crash,
        )
        plans.append(plan)
        if has_twin:
            twins_left -= 1
            plans.append(_local_twin(rng, plan, taken))
    return plans


def _local_twin(rng: random.Random, plan: _Plan, taken: set[str]) -> _Plan:
    """The same inputs, run on a developer's machine shortly before, that succeeded."""
    runtime = _runtime(rng, "local", plan.agent, 0.0)
    return _Plan(
        run_id=_new_run_id(rng, taken),
        agent=plan.agent,
        version=plan.version,
        start=plan.start - timedelta(minutes=rng.uniform(8, 180)),
        environment="local",
        ending="succeeded",
        inputs=plan.inputs,
        runtime=runtime,
        script_seed=plan.script_seed,
        run_seed=rng.getrandbits(64),
    )


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


# ---------------------------------------------------------------------------
# Playing a run: the events it emits, in time
# ---------------------------------------------------------------------------

_STDERR_LEVELS = frozenset({"warning", "error", "critical"})
_CANCELLED_BY = (
    "maria.k@charm.dev",
    "dev.patel@charm.dev",
    "sam.okafor@charm.dev",
    "the scheduler (newer run started)",
)
_TOKEN_GAP_MS = (10.0, 60.0)
_STALL_MS = (2000.0, 5000.0)
_STALL_CHANCE = 0.002
_FLAKY_RUN_CHANCE = 0.13


class _Simulator:
    """Plays one planned run forward in time and records the events it emits."""

    def __init__(self, plan: _Plan, ledger: _Ledger | None) -> None:
        self.plan = plan
        self.ledger = ledger
        self.rng = random.Random(plan.run_seed)
        self.clock = plan.start
        self.events: list[Event] = []
        self.with_span_ids = self.rng.random() < 0.85
        self.script = plan.agent.make_script(random.Random(plan.script_seed + 1), plan.inputs)

    # -- primitives ---------------------------------------------------------

    def wait(self, low_ms: float, high_ms: float) -> None:
        self.clock += timedelta(milliseconds=self.rng.uniform(low_ms, high_ms))

    def emit(
        self, type_: str, data: dict[str, Any], gap_ms: tuple[float, float] = (1.0, 15.0)
    ) -> None:
        """Record an event ``gap_ms`` after the previous one (the first is at the start)."""
        if self.events:
            self.wait(*gap_ms)
        self.events.append(
            {
                "v": PROTOCOL_VERSION,
                "event_id": _uuid4(self.rng),
                "run_id": self.plan.run_id,
                "seq": len(self.events),
                "ts": self.clock,
                "type": type_,
                "agent": {"name": self.plan.agent.name, "version": self.plan.version},
                "data": data,
            }
        )

    def log(self, level: str, message: str, logger: str | None = None) -> None:
        stream = "stderr" if level in _STDERR_LEVELS else "stdout"
        data = {"message": message, "level": level, "stream": stream}
        if logger:
            data["logger"] = logger
        self.emit("log", data, gap_ms=(1.0, 40.0))

    def log_line(self, line: LogLine) -> None:
        self.log(line.level, line.message, line.logger)

    def status(self, status: str, message: str | None = None) -> None:
        data = {"status": status}
        if message:
            data["message"] = message
        self.emit("status", data, gap_ms=(2.0, 30.0))

    # -- steps --------------------------------------------------------------

    def llm(self, call: LLMCall) -> None:
        """Stream the answer token by token, then report its usage."""
        call_id = "call_" + _hex(self.rng, 16)
        tokens = _tokenize(call.text)
        self.wait(250, 900 + call.input_tokens / 15)  # time to first token grows with the prompt
        for index, token in enumerate(tokens):
            gap = _TOKEN_GAP_MS
            if index and self.rng.random() < _STALL_CHANCE:
                gap = _STALL_MS
            data = {"token": token, "model": call.model, "call_id": call_id}
            self.emit("llm_new_token", data, gap_ms=gap)
        self.emit("usage", self._usage(call, call_id, len(tokens)), gap_ms=(5.0, 40.0))

    def _usage(self, call: LLMCall, call_id: str, output_tokens: int) -> dict[str, Any]:
        usage: dict[str, Any] = {"model": call.model, "call_id": call_id}
        prompt = call.input_tokens + self.rng.randint(-40, 40)
        cached = written = 0
        caching = call.model.startswith("claude") or call.model == "gpt-4o"
        if caching and self.rng.random() < 0.5:
            cached = int(prompt * self.rng.uniform(0.35, 0.85))
        elif call.model.startswith("claude") and self.rng.random() < 0.3:
            written = int(prompt * self.rng.uniform(0.3, 0.6))
        usage["input_tokens"] = prompt - cached - written
        usage["output_tokens"] = output_tokens
        if cached:
            usage["cache_read_tokens"] = cached
        if written:
            usage["cache_write_tokens"] = written
        return usage

    def open_tool(self, name: str, tool_input: Any) -> str | None:
        """``agent_action`` then ``tool_start``; returns the span id, if this run uses them."""
        self.emit("agent_action", {"tool": name, "tool_input": tool_input}, gap_ms=(20.0, 400.0))
        return self._tool_start(name, tool_input)

    def _tool_start(self, name: str, tool_input: Any) -> str | None:
        span_id = "sp_" + _hex(self.rng, 12) if self.with_span_ids else None
        input_str = tool_input if isinstance(tool_input, str) else json.dumps(tool_input)
        self._tool_event("tool_start", name, span_id, input_str=input_str, gap_ms=(1.0, 8.0))
        return span_id

    def _tool_event(
        self,
        type_: str,
        name: str,
        span_id: str | None,
        *,
        gap_ms: tuple[float, float] = (1.0, 8.0),
        **fields: Any,
    ) -> None:
        data = {"tool_name": name, **fields}
        if span_id:
            data["span_id"] = span_id
        self.emit(type_, data, gap_ms=gap_ms)

    def tool(self, call: ToolCall, *, flaky: bool = False) -> None:
        """A tool call that ends well, after one failed attempt if ``flaky``."""
        span_id = self.open_tool(call.tool, call.tool_input)
        if flaky:
            span_id = self._fail_and_retry(call.tool, call.tool_input, span_id)
        duration = self.rng.uniform(*call.duration_ms)
        for line in call.logs:
            self.wait(0.7 * duration / len(call.logs), 0.75 * duration / len(call.logs))
            self.log_line(line)
        remaining = duration * (0.3 if call.logs else 1.0)
        self._tool_event(
            "tool_end", call.tool, span_id, output=call.output, gap_ms=(remaining, remaining * 1.05)
        )
        if self.rng.random() < 0.3:
            self.log("debug", f"tool {call.tool} finished in {duration:.0f} ms", "charm.tools")

    def _fail_and_retry(self, name: str, tool_input: Any, span_id: str | None) -> str | None:
        error_type, template = self.rng.choice(_TRANSIENT_ERRORS)
        error = {"type": error_type, "message": template.format(n=self.rng.randint(1, 5))}
        self._tool_event("tool_error", name, span_id, error=error, gap_ms=(150.0, 2500.0))
        delay = self.rng.choice([1.0, 2.0, 4.0])
        self.log(
            "warning",
            f"{name} failed with {error_type}; retrying in {delay:.1f} s (attempt 2 of 3)",
            "charm.tools",
        )
        self.wait(delay * 1000, delay * 1000 + 30)
        return self._tool_start(name, tool_input)

    def billing(self, billing: Billing) -> None:
        """Charge through Stripe; live (cloud) runs also record revenue."""
        ledger = self.ledger if self.plan.environment == "cloud" else None
        live = ledger is not None
        charge_id = _stripe_id(self.rng, "ch")
        cents = int(billing.amount * 100)
        output = {
            "id": charge_id,
            "object": "charge",
            "amount": cents,
            "currency": billing.currency.lower(),
            "status": "succeeded",
            "livemode": live,
        }
        self.tool(ToolCall(billing.tool, _billing_input(billing), json.dumps(output), (250, 900)))
        if ledger is None:
            return
        self.revenue(
            "charge",
            billing.amount,
            billing.currency,
            billing.customer,
            charge_id,
            metadata={"description": billing.description},
        )
        ledger.charges.append(
            _Charge(charge_id, billing.customer, billing.currency, billing.amount, self.clock)
        )
        self._maybe_subscription(ledger, billing.customer, billing.currency)
        self._maybe_refund(ledger, billing.customer)
        self._maybe_credit(billing.customer, billing.currency)

    def revenue(
        self,
        kind: str,
        amount: Decimal,
        currency: str,
        customer: str,
        external_id: str,
        **extra: Any,
    ) -> None:
        data = {
            "kind": kind,
            "amount": _money(amount),
            "currency": currency,
            "customer": customer,
            "external_id": external_id,
            **extra,
        }
        self.emit("revenue", data, gap_ms=(5.0, 60.0))

    def _maybe_subscription(self, ledger: _Ledger, customer: str, currency: str) -> None:
        """Now and then, the customer's monthly plan renews (at most once in 30 days)."""
        last = ledger.last_subscription.get(customer)
        if (last and self.clock - last < timedelta(days=30)) or self.rng.random() >= 0.35:
            return
        ledger.last_subscription[customer] = self.clock
        self.log(
            "info",
            f"renewing the monthly team plan for {customer}",
            f"{self.plan.agent.logger}.billing",
        )
        metadata = {"plan": "team", "interval": "month"}
        self.revenue(
            "subscription",
            _SUBSCRIPTION_PRICE[currency],
            currency,
            customer,
            _stripe_id(self.rng, "in"),
            metadata=metadata,
        )

    def _maybe_refund(self, ledger: _Ledger, customer: str) -> None:
        """Now and then, refund (fully or half) an earlier charge of the same customer."""
        candidates = ledger.refundable(customer, before=self.clock)
        if not candidates or self.rng.random() >= 0.12:
            return
        charge = self.rng.choice(candidates)
        full = self.rng.random() < 0.7
        amount = charge.amount if full else (charge.amount / 2).quantize(_CENT)
        reason = self.rng.choice(["duplicate", "requested_by_customer", "requested_by_customer"])
        refund_id = _stripe_id(self.rng, "re")
        tool_input = {"charge": charge.external_id, "amount": _money(amount), "reason": reason}
        self.tool(
            ToolCall(
                "stripe.create_refund",
                tool_input,
                json.dumps({"id": refund_id, "status": "succeeded"}),
                (250, 800),
            )
        )
        ledger.refunded.add(charge.external_id)
        self.revenue(
            "refund",
            amount,
            charge.currency,
            customer,
            refund_id,
            refund_of=charge.external_id,
            metadata={"reason": reason},
        )

    def _maybe_credit(self, customer: str, currency: str) -> None:
        """Rarely, a service credit after an incident."""
        if self.rng.random() >= 0.04:
            return
        amount = Decimal("25.00") if currency == "USD" else Decimal("20.00")
        incident = f"INC-{self.rng.randint(1000, 2999)}"
        self.log(
            "info",
            f"issuing a service credit to {customer} for incident {incident}",
            f"{self.plan.agent.logger}.billing",
        )
        self.revenue(
            "credit",
            amount,
            currency,
            customer,
            _stripe_id(self.rng, "cn"),
            metadata={"reason": f"SLA credit for {incident}"},
        )

    def step(self, step: Step, *, flaky: bool = False) -> None:
        if isinstance(step, LogLine):
            self.log_line(step)
        elif isinstance(step, LLMCall):
            self.llm(step)
        elif isinstance(step, ToolCall):
            self.tool(step, flaky=flaky)
        else:
            self.billing(step)

    def play(self, steps: Sequence[Step]) -> None:
        """Play ``steps``; in some runs one tool fails once and is retried."""
        tools = [i for i, step in enumerate(steps) if isinstance(step, ToolCall)]
        flaky = -1
        if tools and self.rng.random() < _FLAKY_RUN_CHANCE:
            flaky = self.rng.choice(tools)
        for index, step in enumerate(steps):
            self.wait(30, 400)  # the agent thinks between steps
            self.step(step, flaky=index == flaky)

    # -- phases -------------------------------------------------------------

    def simulate(self) -> list[Event]:
        """Play the whole run, ending the way its plan says."""
        self.start()
        if self.plan.ending == "validation_failed":
            self.fail_validation()
            return self.events
        self.begin()
        steps = self.script.steps
        if self.plan.ending == "crashed":
            self.crash(steps)
        elif self.plan.ending == "cancelled":
            self.cancel(steps)
        elif self.plan.ending == "timed_out":
            self.time_out(steps)
        else:
            self.play(steps)
            self.succeed()
        return self.events

    def start(self) -> None:
        plan = self.plan
        data = {
            "inputs": json.loads(json.dumps(plan.inputs)),
            "environment": plan.environment,
            "runtime": dict(plan.runtime),
            "config": plan.agent.config(),
        }
        self.emit("run_start", data)
        in_cloud = plan.environment == "cloud"
        if in_cloud and self.rng.random() < 0.45:
            self.status("queued")
            long_queue = self.rng.random() < 0.1
            self.wait(*((30_000, 120_000) if long_queue else (300, 15_000)))
        if plan.ending == "validation_failed" or (in_cloud and self.rng.random() < 0.3):
            self.status("validating")
            self.wait(600, 2500)

    def fail_validation(self) -> None:
        message = _validation_message(self.rng, self.plan.agent)
        self.log("error", f"charm validate failed: {message}", "charm.validate")
        self.status("validation_failed", message)

    def begin(self) -> None:
        plan, runtime = self.plan, self.plan.runtime
        self.status("running")
        self.log(
            "info",
            f"starting {plan.agent.name} {plan.version} (charm-sdk {runtime['sdk_version']}, "
            f"Python {runtime['python']}, {plan.environment})",
            "charm.runtime",
        )
        tools = ", ".join(sorted(plan.agent.tools))
        self.log(
            "debug",
            f"loaded {len(plan.agent.tools)} tools from charm.yaml: {tools}",
            "charm.runtime",
        )
        if plan.crash and plan.crash.warning:
            self.log_line(plan.crash.warning)

    def succeed(self) -> None:
        elapsed = (self.clock - self.plan.start).total_seconds()
        self.log("info", f"run finished in {elapsed:.1f} s", "charm.runtime")
        self.emit("run_end", {"outputs": self.script.outputs})
        self.status("succeeded")

    def crash(self, steps: Sequence[Step]) -> None:
        """Play up to the step where the plan's crash strikes, then fail there."""
        crash = self.plan.crash
        assert crash is not None
        matching = [i for i, step in enumerate(steps) if _step_key(step) == crash.at]
        index = self.rng.choice(matching) if matching else len(steps) - 1
        self.play(steps[:index])
        failing = steps[index]
        step_input = _tool_of(failing)[1] if isinstance(failing, ToolCall | Billing) else None
        python = self.plan.runtime["python"].rsplit(".", 1)[0]
        message, traceback = crash.render(self.rng, self.plan.inputs, step_input, python)
        if isinstance(failing, LLMCall):
            self.llm(failing)
        else:
            self._fail_tool(crash, failing, message)
        self.log("error", f"run failed with an unhandled exception\n{traceback}", "charm.runtime")
        self.emit(
            "error",
            {"error": {"type": crash.error_type, "message": message, "traceback": traceback}},
        )
        self.status("failed", f"{crash.error_type}: {message}")

    def _fail_tool(self, crash: _Crash, failing: Step, message: str) -> None:
        name, tool_input = _tool_of(failing)
        span_id = self.open_tool(name, tool_input)
        attempts = crash.retries + 1
        for attempt in range(1, attempts):
            self.wait(*crash.delay_ms)
            self.log(
                "warning",
                f"{name}: attempt {attempt} of {attempts} timed out; retrying",
                "charm.http",
            )
        self.wait(*crash.delay_ms)
        error = {"type": crash.error_type, "message": message}
        self._tool_event("tool_error", name, span_id, error=error)

    def cancel(self, steps: Sequence[Step]) -> None:
        """Stop partway, sometimes leaving a tool call open (it shows as abandoned)."""
        index = self.rng.randint(1, max(1, len(steps) - 1))
        self.play(steps[:index])
        if isinstance(steps[index], ToolCall) and self.rng.random() < 0.4:
            self.open_tool(*_tool_of(steps[index]))
        self.wait(500, 20_000)
        who = self.rng.choice(_CANCELLED_BY)
        self.log("warning", "received SIGTERM: cancel requested, stopping the run", "charm.runtime")
        self.status("cancelled", f"cancelled by {who}")

    def time_out(self, steps: Sequence[Step]) -> None:
        """Hang in a tool call until the agent's timeout kills the run."""
        tools = [i for i, step in enumerate(steps) if isinstance(step, ToolCall)]
        index = self.rng.choice(tools)
        self.play(steps[:index])
        self.open_tool(*_tool_of(steps[index]))
        timeout = self.plan.agent.timeout_s
        self.clock = max(self.clock, self.plan.start + timedelta(seconds=timeout))
        self.log(
            "error",
            f"run exceeded its timeout of {timeout} s; killing the agent process",
            "charm.runner",
        )
        self.status("timed_out", f"run exceeded its {timeout} s timeout")


def _billing_input(billing: Billing) -> dict[str, Any]:
    return {
        "customer": billing.customer,
        "amount": _money(billing.amount),
        "currency": billing.currency.lower(),
        "description": billing.description,
    }


def _tool_of(step: Step) -> tuple[str, Any]:
    """The tool name and input of a tool or billing step."""
    if isinstance(step, Billing):
        return step.tool, _billing_input(step)
    assert isinstance(step, ToolCall)
    return step.tool, step.tool_input


def _finalize(events: list[Event]) -> list[Event]:
    """Sort by time (then run and seq) and write ``ts`` as RFC 3339 strings."""
    events.sort(key=lambda event: (event["ts"], event["run_id"], event["seq"]))
    for event in events:
        event["ts"] = _format_ts(event["ts"])
    return events


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def generate_demo_events(
    *, seed: int = 7, now: datetime | None = None, runs: int = 300, days: int = 14
) -> list[Event]:
    """Return the protocol-v1 events of ``runs`` finished demo runs.

    The runs are spread over the ``days`` days before ``now`` (default: the current
    time, UTC) and all ended at least 15 minutes before it. Each event is a JSON-safe
    dict with ``v``, ``event_id``, ``run_id``, ``seq``, ``ts`` (RFC 3339, UTC, "Z"),
    ``type``, ``agent`` and ``data``; the list is sorted by ``ts``. The same ``seed``
    and ``now`` give the same events, ids included. The size grows linearly with
    ``runs``: about 300 events per run, most of them streamed tokens.
    """
    if runs < 0:
        raise ValueError("runs must be >= 0")
    if days <= 0:
        raise ValueError("days must be > 0")
    now = _utc_now(now)
    rng = random.Random(seed)
    ledger = _Ledger()
    events: list[Event] = []
    for plan in sorted(_plan_runs(rng, now, runs, days), key=lambda p: p.start):
        events.extend(_Simulator(plan, ledger).simulate())
    return _finalize(events)


_LIVE_AGENTS = ("research-assistant", "data-sync")


def running_run_events(
    *, seed: int = 7, now: datetime | None = None, count: int = 2, include_future: bool = False
) -> list[Event]:
    """Return the events of ``count`` runs that are still running at ``now``.

    A long research report being streamed and a full data resync, started a few
    minutes before ``now``: ``run_start``, status, tool calls, tokens, logs, and no
    end. With ``include_future`` the rest of each run (after ``now``, up to its
    ``run_end``) is included too, so a caller can replay it in real time to feed the
    live views. Deterministic for ``seed`` and ``now``; the ids come from a random stream
    of their own, apart from ``generate_demo_events``'.
    """
    now = _utc_now(now)
    rng = random.Random(f"charm-demo-live-{seed}")
    events: list[Event] = []
    for index in range(count):
        agent = _AGENTS_BY_NAME[_LIVE_AGENTS[index % len(_LIVE_AGENTS)]]
        run_events = _Simulator(_live_plan(rng, agent, now), ledger=None).simulate()
        # Far enough in that a research run is streaming its long report.
        elapsed = (run_events[-1]["ts"] - run_events[0]["ts"]) * rng.uniform(0.55, 0.85)
        shift = now - elapsed - run_events[0]["ts"]
        for event in run_events:
            event["ts"] += shift
        events += [e for e in run_events if include_future or e["ts"] <= now]
    return _finalize(events)


def _live_plan(rng: random.Random, agent: _Agent, now: datetime) -> _Plan:
    script_seed = rng.getrandbits(64)
    inputs = agent.make_inputs(random.Random(script_seed), now)
    if agent.name == "research-assistant":
        inputs["depth"] = "deep"
    else:
        inputs.update(full_resync=True, batch_size=500)
    return _Plan(
        run_id="run_" + _hex(rng, 12),
        agent=agent,
        version=agent.versions[-1],
        start=now,  # moved back once the run's length is known
        environment="cloud",
        ending="succeeded",
        inputs=inputs,
        runtime=_runtime(rng, "cloud", agent, 1.0),
        script_seed=script_seed,
        run_seed=rng.getrandbits(64),
    )


def iter_demo_ndjson(
    *,
    seed: int = 7,
    now: datetime | None = None,
    runs: int = 300,
    days: int = 14,
    include_running: bool = False,
) -> Iterator[str]:
    """Yield the demo events as NDJSON lines (each ends with a newline), oldest first.

    With ``include_running`` the in-progress runs of ``running_run_events`` are
    merged in. ``"".join(iter_demo_ndjson())`` is a valid body for
    ``POST /api/v1/ingest`` (``application/x-ndjson``).
    """
    now = _utc_now(now)
    events = generate_demo_events(seed=seed, now=now, runs=runs, days=days)
    if include_running:
        events += running_run_events(seed=seed, now=now)
        events.sort(key=lambda event: (event["ts"], event["run_id"], event["seq"]))
    for event in events:
        yield json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"
