"""Settings from the environment: a bad value stops start-up, naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from studio.env import env_bool, env_int, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), (" Yes ", True), ("ON", True),
     ("0", False), ("false", False), ("no", False), ("off", False), ("", False)],
)  # fmt: skip
def test_env_bool_reads_the_usual_spellings(monkeypatch, value, expected):
    monkeypatch.setenv("STUDIO_FLAG", value)

    assert env_bool("STUDIO_FLAG", not expected) is expected


def test_env_bool_uses_the_default_when_unset(monkeypatch):
    monkeypatch.delenv("STUDIO_FLAG", raising=False)

    assert env_bool("STUDIO_FLAG", True) is True
    assert env_bool("STUDIO_FLAG", False) is False


@pytest.mark.parametrize("value", ["ture", "2", "enabled", "-1"])
def test_env_bool_refuses_anything_else_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("STUDIO_FLAG", value)

    with pytest.raises(
        ImproperlyConfigured, match=f"STUDIO_FLAG must be true or false, got '{value}'"
    ):
        env_bool("STUDIO_FLAG", False)


def test_env_int_reads_whole_numbers_and_defaults_when_unset(monkeypatch):
    monkeypatch.setenv("STUDIO_N", " 42 ")
    assert env_int("STUDIO_N", 7) == 42

    monkeypatch.delenv("STUDIO_N")
    assert env_int("STUDIO_N", 7) == 7


@pytest.mark.parametrize("value", ["ten", "1.5", "", "6k"])
def test_env_int_refuses_what_is_not_a_whole_number(monkeypatch, value):
    monkeypatch.setenv("STUDIO_N", value)

    with pytest.raises(ImproperlyConfigured, match="STUDIO_N must be a whole number"):
        env_int("STUDIO_N", 7)


def test_env_int_refuses_numbers_below_the_minimum(monkeypatch):
    monkeypatch.setenv("STUDIO_N", "2")

    with pytest.raises(ImproperlyConfigured, match="STUDIO_N must be at least 5, got 2"):
        env_int("STUDIO_N", 60, minimum=5)


def test_env_int_refuses_negative_numbers_by_default(monkeypatch):
    monkeypatch.setenv("STUDIO_N", "-3")

    with pytest.raises(ImproperlyConfigured, match="STUDIO_N must be at least 0"):
        env_int("STUDIO_N", 1)


def test_env_url_accepts_the_listed_schemes_and_none_when_unset(monkeypatch):
    monkeypatch.setenv("STUDIO_DB", "postgres://u@db:5432/studio")
    assert env_url("STUDIO_DB", ("postgres", "postgresql")) == "postgres://u@db:5432/studio"

    monkeypatch.setenv("STUDIO_DB", "")
    assert env_url("STUDIO_DB", ("postgres",)) is None
    monkeypatch.delenv("STUDIO_DB")
    assert env_url("STUDIO_DB", ("postgres",)) is None


@pytest.mark.parametrize("value", ["mysql://u@db/studio", "db:5432/studio", "postgres:/db"])
def test_env_url_refuses_other_schemes_naming_the_variable_and_the_allowed_ones(monkeypatch, value):
    monkeypatch.setenv("STUDIO_DB", value)

    with pytest.raises(ImproperlyConfigured) as raised:
        env_url("STUDIO_DB", ("postgres", "postgresql"))

    message = str(raised.value)
    assert message.startswith("STUDIO_DB must start with one of postgres://, postgresql://")
    assert repr(value) in message


def test_env_str_requires_a_value_when_there_is_no_default(monkeypatch):
    monkeypatch.delenv("STUDIO_SECRET", raising=False)

    with pytest.raises(ImproperlyConfigured, match="STUDIO_SECRET must be set"):
        env_str("STUDIO_SECRET")
    assert env_str("STUDIO_SECRET", "fallback") == "fallback"


def test_env_list_splits_on_commas_and_drops_blanks(monkeypatch):
    monkeypatch.setenv("STUDIO_HOSTS", " studio.example.com, ,localhost ")

    assert env_list("STUDIO_HOSTS", ["x"]) == ["studio.example.com", "localhost"]


def _start_django(**env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "studio.settings", **env}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=BASE_DIR, env=full_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_typo_in_an_env_variable_stops_start_up_naming_it():
    result = _start_django(BATCH_MAX_ATTEMPTS="five")

    assert result.returncode != 0
    assert "ImproperlyConfigured: BATCH_MAX_ATTEMPTS must be a whole number, got 'five'" in (
        result.stderr
    )


def test_start_up_refuses_an_insecure_secret_key_without_debug():
    result = _start_django(SECRET_KEY="insecure-dev-key-only-for-debug", DEBUG="0")

    assert result.returncode != 0
    assert "SECRET_KEY must be a real secret when DEBUG is off" in result.stderr
