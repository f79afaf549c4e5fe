"""The demo fleet: each agent's declaration, versions and runtimes."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runs.demo.data_sync import _sync_inputs, _sync_script
from runs.demo.invoice_bot import _invoice_inputs, _invoice_script
from runs.demo.research_assistant import _research_inputs, _research_script
from runs.demo.sales_outreach import _sales_inputs, _sales_script
from runs.demo.steps import Script
from runs.demo.support_triage import _support_inputs, _support_script

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
