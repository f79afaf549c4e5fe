"""Settings from the environment and charm.yaml; Retry-After and backoff arithmetic."""

import random
import sys
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from charm_studio import config, payload, transport
from charm_studio.config import Agent

CHARM_YAML = """\
version: "0.4"
# the persona is what Studio shows
persona:
  name: "Invoice Bot"   # shown in the store
  version: 1.4.0
  description: Looks up invoices
  assets:
    name: not-this-one
interface:
  input: {type: object}
  output: {type: object}
runtime:
  adapter:
    type: langchain
    entry_point: "agent:runnable"
    environment_variables:
      models: [OPENAI_API_KEY]
      tools: [STRIPE_KEY, "BAD=secret"]
  telemetry: [studio]
auth:
  providers:
    - name: google
      scopes: [gmail.readonly]
"""


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/api/v1/ingest"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/api/v1/ingest"),
        ("https://studio.example.com", "https://studio.example.com/api/v1/ingest"),
        ("https://example.com/studio/", "https://example.com/studio/api/v1/ingest"),
        ("http://[::1]:8000/api/v1/ingest", "http://[::1]:8000/api/v1/ingest"),
    ],
)
def test_the_url_names_the_studio_events_are_posted_to(url, expected):
    assert config.target_from_url(url, "key").url == expected


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://host", "http://", "http://host:port"])
def test_an_unusable_url_turns_the_exporter_off_with_a_warning(url, caplog):
    config._warned.clear()
    assert config.settings_from_env({"CHARM_STUDIO_URL": url}) is None
    assert "CHARM_STUDIO_URL" in caplog.text


def test_no_url_means_no_settings():
    assert config.settings_from_env({}) is None
    assert config.settings_from_env({"CHARM_STUDIO_URL": "  "}) is None


def test_the_agent_is_the_persona_of_charm_yaml_in_the_working_directory(tmp_path):
    (tmp_path / "charm.yaml").write_text(CHARM_YAML)
    settings = config.settings_from_env({"CHARM_STUDIO_URL": "http://h"}, cwd=str(tmp_path))

    assert settings.agent.as_event_field() == {"name": "Invoice Bot", "version": "1.4.0"}
    assert settings.agent.required_env == ["OPENAI_API_KEY", "STRIPE_KEY"]  # names only
    assert settings.agent.oauth == ["google"]


def test_charm_yaml_is_read_without_pyyaml_too(monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)

    assert config.agent_from_charm_yaml(CHARM_YAML) == Agent("Invoice Bot", "1.4.0")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("persona:\n  name: bot\n", Agent("bot", None)),
        ("persona:\n    version: '2.0.0'\n    name: 'my bot' # x\n", Agent("my bot", "2.0.0")),
        ("other:\n  name: no\npersona:\n  description: d\n", None),
        ("persona: {name: inline}\n", None),
        ("", None),
    ],
)
def test_the_line_reader_takes_only_the_personas_own_keys(text, expected):
    assert config._agent_from_lines(text) == expected


def test_charm_studio_agent_names_the_agent(tmp_path):
    (tmp_path / "charm.yaml").write_text(CHARM_YAML)
    env = {"CHARM_STUDIO_AGENT": "billing-bot@2.1.0"}

    assert config.agent_from_env(env, str(tmp_path)) == Agent("billing-bot", "2.1.0")
    assert config.agent_from_env({"CHARM_STUDIO_AGENT": "@acme/bot"}, str(tmp_path)).name == (
        "@acme/bot"
    )


def test_without_a_name_anywhere_the_agent_is_called_agent(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", [""])
    assert config.agent_from_env({}, str(tmp_path)) == Agent("agent", None)


def test_a_bad_environment_or_buffer_falls_back_to_the_default(caplog):
    config._warned.clear()
    assert config.environment_from_env({"CHARM_STUDIO_ENVIRONMENT": "prod"}) == "local"
    assert config.environment_from_env({"CHARM_STUDIO_ENVIRONMENT": "Cloud"}) == "cloud"
    assert config.buffer_size_from_env({"CHARM_STUDIO_BUFFER": "lots"}) == config.DEFAULT_BUFFER
    assert config.buffer_size_from_env({"CHARM_STUDIO_BUFFER": "2000"}) == 2000
    assert "CHARM_STUDIO_ENVIRONMENT" in caplog.text and "CHARM_STUDIO_BUFFER" in caplog.text


def test_retry_after_is_read_as_seconds_or_a_date_and_capped():
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
    in_five = format_datetime(now + timedelta(seconds=5), usegmt=True)

    assert transport.parse_retry_after("2") == 2.0
    assert transport.parse_retry_after("0.5") == 0.5
    assert transport.parse_retry_after(in_five, now=now.timestamp()) == pytest.approx(5.0)
    assert transport.parse_retry_after("86400") == transport.RETRY_AFTER_CAP_SECONDS
    assert transport.parse_retry_after("-3") == 0.0
    assert transport.parse_retry_after("soon") is None
    assert transport.parse_retry_after(None) is None


def test_backoff_is_exponential_with_full_jitter():
    rng = random.Random(7)
    for attempt in range(12):
        ceiling = min(transport.BACKOFF_CAP_SECONDS, transport.BACKOFF_BASE_SECONDS * 2**attempt)
        delays = [transport.backoff_seconds(attempt, rng) for _ in range(200)]
        assert min(delays) >= 0 and max(delays) <= ceiling
        assert max(delays) > ceiling / 2  # spread over the whole range, not bunched


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("KeyError: 'customer'", ("KeyError", "'customer'")),
        ("openai.RateLimitError: slow down", ("openai.RateLimitError", "slow down")),
        ("TimeoutError:", ("TimeoutError", "")),
        ("Agent Execution Failed: division by zero", None),
        ("Note: this is not a type", None),
        ("division by zero", None),
    ],
)
def test_a_type_is_taken_from_a_message_only_when_it_names_one(message, expected):
    assert payload.type_from_message(message) == expected


def test_an_api_key_no_header_can_carry_turns_the_exporter_off_without_showing_it(caplog):
    config._warned.clear()
    env = {"CHARM_STUDIO_URL": "http://h", "CHARM_STUDIO_API_KEY": "csk_live\nsecret"}

    assert config.settings_from_env(env) is None
    assert "CHARM_STUDIO_API_KEY" in caplog.text and "secret" not in caplog.text
