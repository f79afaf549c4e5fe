"""sales-outreach: its leads, briefs and emails, and the script of one run."""

from __future__ import annotations

import json
import random
from datetime import datetime
from decimal import Decimal
from typing import Any

from runs.demo.helpers import _hex, _sentences
from runs.demo.revenue import _pick_customer
from runs.demo.steps import Billing, LLMCall, LogLine, Script, Step, ToolCall, _http

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
