"""research-assistant: its topics and sources, the long reports it streams, one run's script."""

from __future__ import annotations

import json
import random
from datetime import datetime
from typing import Any

from runs.demo.helpers import _ALNUM, _sentences, _tokenize
from runs.demo.steps import LLMCall, Script, Step, ToolCall, _http

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
