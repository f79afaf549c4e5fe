import re

import pytest

from runs import fingerprint
from runs.fingerprint import (
    error_fingerprint,
    error_title,
    missing_names,
    normalize_message,
    top_frames,
)

TRACEBACK = """Traceback (most recent call last):
  File "/home/alice/invoice-bot/agent/main.py", line 40, in <module>
    run()
  File "/home/alice/invoice-bot/.venv/lib/python3.11/site-packages/charm/runner.py", line 88, in run
    result = tool(inputs)
  File "/home/alice/invoice-bot/agent/tools.py", line 12, in search
    key = os.environ["OPENAI_API_KEY"]
  File "<frozen os>", line 679, in __getitem__
KeyError: 'OPENAI_API_KEY'
"""


def traceback_with(**replacements: str) -> str:
    text = TRACEBACK
    for old, new in replacements.items():
        text = text.replace(old, new)
    return text


def test_same_error_with_different_ids_groups_together():
    first = error_fingerprint(
        "LookupError",
        "Run run_8f2a: invoice 3f0c2a1e-1234-4abc-9def-0123456789ab for bob@example.com "
        "not found at https://billing.example.com/v1/invoices/981 (2026-11-25T11:24:41Z), "
        "took 1.25s, attempt 3",
        TRACEBACK,
    )
    second = error_fingerprint(
        "LookupError",
        "Run run_91bc: invoice 0b7d9e44-5678-4def-8abc-fedcba987654 for ann@example.org "
        "not found at https://billing.example.com/v1/invoices/17 (2026-12-01T08:00:00Z), "
        "took 0.5s, attempt 12",
        TRACEBACK,
    )

    assert first == second


def test_different_error_types_do_not_group_together():
    assert error_fingerprint("KeyError", "'X'", TRACEBACK) != error_fingerprint(
        "ValueError", "'X'", TRACEBACK
    )


def test_different_messages_do_not_group_together():
    assert error_fingerprint("KeyError", "'OPENAI_API_KEY'", TRACEBACK) != error_fingerprint(
        "KeyError", "'ANTHROPIC_API_KEY'", TRACEBACK
    )


def test_an_edit_that_shifts_line_numbers_keeps_the_group():
    shifted = traceback_with(**{"line 12, in search": "line 19, in search"})

    assert error_fingerprint("KeyError", "'K'", TRACEBACK) == error_fingerprint(
        "KeyError", "'K'", shifted
    )


def test_same_code_from_another_checkout_and_virtualenv_groups_together():
    in_docker = traceback_with(
        **{
            "/home/alice/invoice-bot/.venv/lib/python3.11": "/usr/local/lib/python3.11",
            "/home/alice/invoice-bot/agent/": "/app/agent/",
        }
    )

    assert error_fingerprint("KeyError", "'K'", TRACEBACK) == error_fingerprint(
        "KeyError", "'K'", in_docker
    )


def test_same_message_raised_from_another_function_is_another_group():
    elsewhere = traceback_with(**{"in search": "in fetch_invoices"})

    assert error_fingerprint("KeyError", "'K'", TRACEBACK) != error_fingerprint(
        "KeyError", "'K'", elsewhere
    )


def test_fingerprint_is_32_hex_characters():
    assert re.fullmatch(r"[0-9a-f]{32}", error_fingerprint("KeyError", "'K'", None))


def test_a_new_algorithm_version_gives_new_fingerprints(monkeypatch):
    before = error_fingerprint("KeyError", "'K'", TRACEBACK)
    monkeypatch.setattr(fingerprint, "FINGERPRINT_VERSION", 2)

    assert error_fingerprint("KeyError", "'K'", TRACEBACK) != before


@pytest.mark.parametrize(
    ("message", "normalized"),
    [
        ("id 3f0c2a1e-1234-4abc-9def-0123456789ab gone", "id <uuid> gone"),
        ("commit deadbeef12345678 and object 0x7f3a2b1c", "commit <hex> and object <hex>"),
        ("mail bob.smith+x@example.co.uk bounced", "mail <email> bounced"),
        ("GET https://api.example.com/v1/runs?page=2 failed.", "GET <url> failed."),
        ("at 2026-11-25T11:24:41.123456+00:00 and 2026-11-25", "at <time> and <time>"),
        (
            "timeout after 30 seconds, 1.5 MB, -4 left",
            "timeout after <n> seconds, <n> MB, -<n> left",
        ),
        ("charge ch_3MtwBwLkdIwHu7ix28a3tqPa declined", "charge ch_<id> declined"),
    ],
)
def test_volatile_parts_become_placeholders(message, normalized):
    assert normalize_message(message) == normalized


def test_words_are_kept_and_only_digit_runs_in_identifiers_are_replaced():
    assert normalize_message("run_8f2a failed for user42 on gpt-4o") == (
        "run_<hex> failed for user<n> on gpt-<n>o"
    )


def test_short_quoted_strings_are_kept_and_long_ones_replaced():
    message = "tool 'search' said 'connection reset by peer while reading'"

    assert normalize_message(message) == "tool 'search' said '<str>'"


def test_apostrophes_are_not_mistaken_for_quotes():
    message = "can't reach the server, it's down and won't answer for a long time"

    assert normalize_message(message) == message


def test_whitespace_is_collapsed_and_length_capped():
    assert normalize_message("  a \n\t b  ") == "a b"
    assert len(normalize_message("word " * 500)) == 500


def test_top_frames_are_the_innermost_without_line_numbers():
    assert top_frames(TRACEBACK) == [
        "charm.runner:run",
        "tools.py:search",
        "<frozen os>:__getitem__",
    ]
    assert top_frames(TRACEBACK, limit=1) == ["<frozen os>:__getitem__"]


def test_top_frames_name_standard_library_modules():
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads\n'
        '  File "C:\\Python311\\Lib\\site-packages\\httpx\\_client.py", line 9, in send\n'
    )

    assert top_frames(traceback) == ["json:loads", "httpx._client:send"]


def test_top_frames_of_a_chained_error_are_those_of_the_last_exception():
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "/app/agent/tools.py", line 3, in search\n'
        "KeyError: 'x'\n\n"
        "During handling of the above exception, another exception occurred:\n\n"
        "Traceback (most recent call last):\n"
        '  File "/app/agent/main.py", line 9, in handle\n'
        "RuntimeError: search failed\n"
    )

    assert top_frames(traceback, limit=1) == ["main.py:handle"]


def test_no_traceback_has_no_frames():
    assert top_frames(None) == []
    assert top_frames("RuntimeError: boom") == []


def test_title_is_type_and_message():
    assert error_title("KeyError", "'OPENAI_API_KEY'") == "KeyError: 'OPENAI_API_KEY'"


def test_title_uses_the_first_line_cut_at_200_characters():
    title = error_title("ValueError", "\n" + "x" * 300 + "\nsecond line")

    assert title.startswith("ValueError: xxx")
    assert title.endswith("…")
    assert len(title) == len("ValueError: ") + 200


def test_title_of_an_empty_message_is_the_type():
    assert error_title("TimeoutError", "  ") == "TimeoutError"
    assert error_title("", "") == "Error"


@pytest.mark.parametrize(
    ("message", "traceback", "names"),
    [
        ("'OPENAI_API_KEY'", None, {"OPENAI_API_KEY"}),
        ("lookup failed", TRACEBACK, {"OPENAI_API_KEY"}),
        ("environment variable SLACK_TOKEN is not set", None, {"SLACK_TOKEN"}),
        ("Env var 'db_url' not found", None, {"db_url"}),
        ("missing env var STRIPE_KEY", None, {"STRIPE_KEY"}),
        (
            "Missing required environment variables: FOO, BAR and BAZ_KEY",
            None,
            {"FOO", "BAR", "BAZ_KEY"},
        ),
        ("ANTHROPIC_API_KEY is not set", None, {"ANTHROPIC_API_KEY"}),
        (
            "The api_key client option must be set either by passing api_key to the client "
            "or by setting the OPENAI_API_KEY environment variable",
            None,
            {"OPENAI_API_KEY"},
        ),
        (
            "1 validation error for Settings\nopenai_api_key\n  Field required [type=missing]",
            None,
            {"OPENAI_API_KEY"},
        ),
        ("OAuth connection 'github' not found", None, {"github"}),
        ("OAuth connection 'github' is not connected", None, {"github"}),
        ("OAuth connection 'github' token expired", None, {"github"}),
        ("No OAuth connection for 'google-drive'.", None, {"google-drive"}),
        ("slack OAuth token has expired", None, {"slack"}),
    ],
)
def test_missing_names_are_found_in_the_error(message, traceback, names):
    assert missing_names(message, traceback) == names


@pytest.mark.parametrize(
    "message",
    [
        "KeyError: 'user_id'",
        "Connection refused to localhost:5432",
        "URL is required",
        "missing environment variables for the app",
        "Your OAuth token has expired",
        "division by zero",
    ],
)
def test_ordinary_errors_name_nothing_missing(message):
    assert missing_names(message, None) == set()
