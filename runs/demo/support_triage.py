"""support-triage: its tickets, its replies, and the script of one run."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runs.demo.helpers import _sentences
from runs.demo.revenue import _pick_customer
from runs.demo.steps import LLMCall, LogLine, Script, Step, ToolCall, _http

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
