"""Redaction rules, as pure functions: what goes, what stays."""

import pytest

from shares.redaction import (
    REDACTED,
    Redactor,
    compile_project_patterns,
    declared_secret_names,
    drop_partial_word,
)


@pytest.fixture
def redactor() -> Redactor:
    names = declared_secret_names({"required_env": ["STRIPE_API_KEY"], "oauth": ["github"]})
    return Redactor(names=names, patterns=compile_project_patterns(r"ACME-\d{6}"))


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("STRIPE_API_KEY=rk_9f8e7d6c5b4a", "rk_9f8e7d6c5b4a"),
        ('{"STRIPE_API_KEY": "any value at all"}', "any value at all"),
        ("github: gho_abc", "gho_abc"),
        ("GITHUB_TOKEN='abc123xyz'", "abc123xyz"),
        ("Authorization: Bearer abc.def-ghi_jkl", "abc.def-ghi_jkl"),
        ("curl -H 'authorization: basic dXNlcjpwYXNzd29yZA=='", "dXNlcjpwYXNzd29yZA=="),
        ("password=hunter2", "hunter2"),
        ("{'db_password': 'two words'}", "two words"),
        ("X-Api-Key: 1234567890abcdef", "1234567890abcdef"),
        ("using sk-ant-api03-abcdefghijklmnopqrstu", "sk-ant-api03-abcdefghijklmnopqrstu"),
        ("stripe sk_test_4eC39HqLyjWDarjtT1zdp7dc", "sk_test_4eC39HqLyjWDarjtT1zdp7dc"),
        ("aws AKIAIOSFODNN7EXAMPLE ok", "AKIAIOSFODNN7EXAMPLE"),
        ("mail ops+alerts@mail.example.co.uk now", "ops+alerts@mail.example.co.uk"),
        ("redis://default:s3cret@cache:6379/0", "s3cret"),
        ("order ACME-123456 shipped", "ACME-123456"),
        ("key chs_abcdefghijklmnopqrstuvwxyz", "chs_abcdefghijklmnopqrstuvwxyz"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "MIIEow"),
    ],
)
def test_secrets_become_a_visible_marker(redactor, text, secret):
    shown = redactor.text(text)

    assert secret not in shown
    assert REDACTED in shown


@pytest.mark.parametrize(
    "text",
    [
        "token streaming started",
        "max_tokens=512 input_tokens: 90",
        "STRIPE_API_KEY is missing",
        "Using Tool: search\nInput: {'q': 'overdue'}",
        "call c1 took 1.2 s",
        "a basic approach to bearer authentication",
    ],
)
def test_ordinary_text_stays_as_it_is(redactor, text):
    assert redactor.text(text) == text


def test_a_declared_value_seen_once_is_redacted_wherever_it_appears(redactor):
    redactor.learn(["loaded STRIPE_API_KEY=plainvalue42"])

    assert redactor.text("retrying with plainvalue42") == f"retrying with {REDACTED}"


def test_json_keeps_its_shape_and_loses_its_secrets(redactor):
    value = {
        "Authorization": "Basic Zm9vOmJhcg==",
        "max_tokens": 5,
        "user": {"email": "ann@example.org", "github": "gho_x", "api_key": None},
        "items": ["ok", "see ann@example.org"],
    }

    assert redactor.value(value) == {
        "Authorization": REDACTED,
        "max_tokens": 5,
        "user": {"email": REDACTED, "github": REDACTED, "api_key": None},
        "items": ["ok", f"see {REDACTED}"],
    }


def test_a_cut_text_loses_its_partial_last_word():
    assert drop_partial_word("token is sk_live_4eC3") == "token is "
    assert Redactor().cut_text("closing with sk_li") == "closing with "


@pytest.mark.parametrize("bad", ["broken([", "a*|", "x" * 301])
def test_project_patterns_must_be_sound(bad):
    with pytest.raises(ValueError):
        compile_project_patterns(bad)
