"""Error grouping: a stable fingerprint for "the same error", like a Sentry issue.

Pure Python: no Django, no database. The worker stores ``error_fingerprint()`` and
``FINGERPRINT_VERSION`` beside each error group; the debug checklist uses
``missing_names()`` to compare what an error says is missing with what a run declared.

Two errors group together when they have the same type, the same message once the
volatile parts (ids, numbers, times, addresses) are replaced by placeholders, and the
same innermost frames, compared without line numbers so an edit that shifts lines
keeps the group.
"""

from __future__ import annotations

import hashlib
import re

# Bump when the algorithm changes; groups keep the version they were made with, so
# old errors are not regrouped.
FINGERPRINT_VERSION = 1

MAX_NORMALIZED_LENGTH = 500
# Bounds the work on a huge message; only the first 500 normalized characters count.
MAX_INPUT_LENGTH = 20_000
MAX_TITLE_MESSAGE_LENGTH = 200
LONG_QUOTED_STRING = 24
FINGERPRINT_HEX_LENGTH = 32

# Order matters: URLs and e-mails first because they contain everything else; times
# before numbers, or "2026-11-25" would become "<n>-<n>-<n>". The look-behinds start a
# match only where a run of its characters starts, so a long run is scanned once, not
# once per position (quadratic on a 100 kB message).
_URL = re.compile(
    r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()\[\]{}]*[^\s'\"<>()\[\]{}.,;:!?]"
)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\b")
_UUID = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
_TIMESTAMP = re.compile(
    r"\b\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s?(?:Z|UTC|[+-]\d{2}:?\d{2}))?)?"
    r"|\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"
)
_HEX_LITERAL = re.compile(r"\b0[xX][0-9a-fA-F]+\b")
# Floats and dotted versions as one number, so "1.5" is "<n>", not "<n>.<n>".
_DECIMAL = re.compile(r"(?<!\d)\d+(?:\.\d+)+(?:[eE][-+]?\d+)?(?!\d|\.\d)")
# Underscores, dashes and dots separate alphanumeric runs, so in "run_8f2a" only "8f2a"
# is looked at and the word "run" is kept.
_ALPHANUMERIC_RUN = re.compile(r"[A-Za-z0-9]+")
_HEX_ONLY = re.compile(r"[0-9a-fA-F]+")
_DIGIT_RUN = re.compile(r"[0-9]+")
_HAS_DIGIT = re.compile(r"[0-9]")
# A quote opens when not preceded by a letter and closes when not followed by one, so
# the apostrophe in "can't" or "it's" is neither.
_SINGLE_QUOTED = re.compile(r"(?<!\w)'((?:[^'\n]|'(?=\w))*)'(?!\w)")
_DOUBLE_QUOTED = re.compile(r'(?<!\w)"([^"\n]*)"(?!\w)')
_WHITESPACE = re.compile(r"\s+")

# A run of hex letters and digits this long is an id ("8f2a"); hex-looking words
# without a digit ("facade") are kept.
_MIXED_HEX_MIN = 4
# A long run of letters and digits is a random id (Stripe's "ch_3MtwBw…", base62 keys).
_RANDOM_ID_MIN = 12


def normalize_message(message: str) -> str:
    """Return ``message`` with its volatile parts replaced by placeholders.

    UUIDs become ``<uuid>``, hex ids ``<hex>``, long random ids ``<id>``, e-mail
    addresses ``<email>``, URLs ``<url>``, ISO dates and times ``<time>``, numbers
    ``<n>`` (also inside identifiers: "user42" is "user<n>", "run_8f2a" is
    "run_<hex>"), quoted strings longer than 24 characters ``'<str>'``. Whitespace is
    collapsed and the result capped at 500 characters (only the first 20,000
    characters of a huge message are read).
    """
    text = _URL.sub("<url>", message[:MAX_INPUT_LENGTH])
    text = _EMAIL.sub("<email>", text)
    text = _UUID.sub("<uuid>", text)
    text = _TIMESTAMP.sub("<time>", text)
    text = _HEX_LITERAL.sub("<hex>", text)
    text = _DECIMAL.sub("<n>", text)
    text = _ALPHANUMERIC_RUN.sub(_normalize_segment, text)
    text = _SINGLE_QUOTED.sub(_shorten_quoted, text)
    text = _DOUBLE_QUOTED.sub(_shorten_quoted, text)
    return _WHITESPACE.sub(" ", text).strip()[:MAX_NORMALIZED_LENGTH]


def _normalize_segment(match: re.Match[str]) -> str:
    segment = match.group()
    if not _HAS_DIGIT.search(segment):
        return segment
    if segment.isdigit():
        return "<n>"
    if len(segment) >= _MIXED_HEX_MIN and _HEX_ONLY.fullmatch(segment):
        return "<hex>"
    if len(segment) >= _RANDOM_ID_MIN:
        return "<id>"
    return _DIGIT_RUN.sub("<n>", segment)


def _shorten_quoted(match: re.Match[str]) -> str:
    if len(match.group(1)) <= LONG_QUOTED_STRING:
        return match.group()
    return "'<str>'"


_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line \d+, in (?P<function>\S+)', re.MULTILINE)
_PACKAGE_ROOT = re.compile(r"^.*/(?:site|dist)-packages/")
_STDLIB_ROOT = re.compile(r"^.*/lib/python\d+(?:\.\d+)?/")


def top_frames(traceback: str | None, limit: int = 3) -> list[str]:
    """Return the innermost ``limit`` frames of a Python traceback as "where:function".

    Frames keep the traceback's order (outermost first, the raising frame last).
    "where" is the dotted module for installed packages and the standard library
    ("openai._base_client"), else the file name ("tools.py"), so the same code run
    from another checkout, container or virtualenv gives the same frames. Line numbers
    are left out so an edit that shifts lines keeps the group. With chained exceptions
    the frames are those of the last one printed, the one that ended the run.
    """
    if not traceback or limit <= 0:
        return []
    frames = [
        f"{_frame_location(match['path'])}:{match['function']}"
        for match in _FRAME.finditer(traceback)
    ]
    return frames[-limit:]


def _frame_location(path: str) -> str:
    path = path.replace("\\", "/")
    if path.startswith("<"):
        return path  # "<frozen importlib._bootstrap>", "<string>"
    for root in (_PACKAGE_ROOT, _STDLIB_ROOT):
        stripped, found = root.subn("", path, count=1)
        if found:
            return _module_name(stripped)
    return path.rsplit("/", 1)[-1]


def _module_name(relative_path: str) -> str:
    module = relative_path.removesuffix(".py").replace("/", ".")
    return module.removesuffix(".__init__")


def error_fingerprint(error_type: str, message: str, traceback: str | None) -> str:
    """Return the group key of an error: 32 hex characters.

    A sha256, truncated, over the algorithm version, the error type, the normalized
    message and the top three frames.
    """
    parts = [
        str(FINGERPRINT_VERSION),
        error_type.strip(),
        normalize_message(message),
        *top_frames(traceback),
    ]
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:FINGERPRINT_HEX_LENGTH]


def error_title(error_type: str, message: str) -> str:
    """Return a one-line title for an error, e.g. "KeyError: 'OPENAI_API_KEY'".

    The message's first non-blank line is used, cut at 200 characters with an
    ellipsis.
    """
    error_type = error_type.strip() or "Error"
    first_line = next((line.strip() for line in message.splitlines() if line.strip()), "")
    if not first_line:
        return error_type
    if len(first_line) > MAX_TITLE_MESSAGE_LENGTH:
        first_line = first_line[: MAX_TITLE_MESSAGE_LENGTH - 1].rstrip() + "…"
    return f"{error_type}: {first_line}"


# Names in error messages, for missing_names(). Cue words are matched in any case
# with scoped (?i:…) flags; the names themselves keep their case rules.
_Q = r"['\"`]?"
_ENV_WORDS = r"(?i:env(?:ironment)?[\s_-]*var(?:iable)?s?|env)"
_ANY_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_UPPER_NAME = r"[A-Z][A-Z0-9_]*"
# An unquoted name must look like an env var (FOO_BAR) so "URL is required" is not one.
_ENV_LIKE_NAME = r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b"
# After a cue that comes first ("missing env var …") an unquoted name must be upper
# case, so "missing env vars for the app" yields nothing and "FOO and the app" only FOO.
_LEADING_ITEM = rf"['\"`]{_ANY_NAME}['\"`]|\b{_UPPER_NAME}\b"
_LEADING_LIST = rf"(?:{_LEADING_ITEM})(?:\s*(?:,|\band\b|\bor\b)\s*(?:{_LEADING_ITEM}))*"
# Before a trailing cue ("… FOO is not set") any name will do.
_TRAILING_LIST = rf"{_Q}{_ANY_NAME}{_Q}(?:\s*(?:,|\band\b|\bor\b)\s*{_Q}{_ANY_NAME}{_Q})*"
_NOT_SET = (
    r"(?i:(?:is|are|was|were)?\s*(?:not\s+(?:set|defined|found|provided|configured|present)"
    r"|missing|unset|undefined|empty|required|must\s+be\s+set))"
)
# Words that stand where a service name could but are not one ("Your OAuth token …").
_NOT_A_SERVICE = (
    r"(?!(?i:is|was|has|have|been|not|for|the|a|an|your|my|our|their|this|that|its|user"
    r"|stored|current|token|connection|no|missing)\b)"
)
# The look-behind starts a name only where a run of name characters starts, so a long
# run is scanned once, not once per position.
_SERVICE = rf"(?<![A-Za-z0-9_.-]){_NOT_A_SERVICE}[A-Za-z][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*"
_OAUTH = r"(?i:oauth2?)"
_OAUTH_THING = r"(?i:connection|integration|account|credential|token|grant)s?"
_OAUTH_PROBLEM = (
    r"(?i:(?:is|was|has|have)?\s*(?:been\s+)?(?:not\s+(?:found|connected|configured|authorized)"
    r"|missing|expired|revoked|invalid|disconnected|required))"
)

# Patterns whose ``names`` group may hold a list of env var names.
_ENV_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern)
    for pattern in (
        # KeyError: 'OPENAI_API_KEY' (a traceback's last line)
        rf"KeyError:\s*['\"](?P<names>{_UPPER_NAME})['\"]",
        # missing env var FOO / Missing required environment variables: FOO, BAR
        (
            rf"\b(?i:missing|required|undefined|unset|no)\s+(?i:required\s+)?{_ENV_WORDS}"
            rf"\s*[:=]?\s*(?P<names>{_LEADING_LIST})"
        ),
        # environment variable FOO is not set / env var 'foo' not found
        rf"{_ENV_WORDS}\s*[:=]?\s*(?P<names>{_TRAILING_LIST})\s*{_NOT_SET}",
        # OPENAI_API_KEY is not set / 'TOKEN' environment variable is missing
        rf"(?P<names>{_ENV_LIKE_NAME}|['\"`]{_UPPER_NAME}['\"`])\s*(?:{_ENV_WORDS}\s*)?{_NOT_SET}",
        # ... by setting the OPENAI_API_KEY environment variable (the OpenAI SDK)
        rf"\b(?i:set(?:ting)?)\s+(?i:the\s+)?{_Q}(?P<names>{_UPPER_NAME}){_Q}\s+{_ENV_WORDS}",
    )
)
# pydantic-settings: "openai_api_key\n  Field required [type=missing". The variable is
# the field name matched case-insensitively, so it is reported upper case.
_PYDANTIC_MISSING = re.compile(
    rf"^\s*(?P<name>{_ANY_NAME})\s*\n\s*Field required \[type=missing", re.MULTILINE
)
# The whole message is a quoted upper-case name: str(KeyError("OPENAI_API_KEY")).
_KEY_ERROR_MESSAGE = re.compile(rf"\s*['\"](?P<names>{_UPPER_NAME})['\"]\s*")
# Patterns whose ``name`` group holds one OAuth connection name, kept whole
# ("google-drive").
_OAUTH_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern)
    for pattern in (
        # OAuth connection 'github' not found / not connected / token expired
        (
            rf"{_OAUTH}\s+{_OAUTH_THING}\s+(?i:for\s+)?{_Q}(?P<name>{_SERVICE}){_Q}\s*"
            rf"(?i:token\s+)?{_OAUTH_PROBLEM}"
        ),
        # No OAuth connection for 'slack' / missing OAuth token for github
        rf"\b(?i:no|missing)\s+{_OAUTH}\s+{_OAUTH_THING}\s+(?i:for\s+)?{_Q}(?P<name>{_SERVICE})",
        # github OAuth token expired / 'slack' OAuth connection is not connected
        rf"{_Q}\b(?P<name>{_SERVICE}){_Q}\s+{_OAUTH}\s+{_OAUTH_THING}\s*{_OAUTH_PROBLEM}",
    )
)
_LIST_ITEM = re.compile(_ANY_NAME)
_LIST_WORDS = frozenset({"and", "or"})


def missing_names(message: str, traceback: str | None) -> set[str]:
    """Return the env var and OAuth connection names an error says are missing.

    Best effort, from the message and the traceback: ``KeyError: 'FOO_KEY'``,
    "environment variable FOO is not set", "missing env vars: FOO, BAR", "by setting
    the OPENAI_API_KEY environment variable", pydantic-settings' "Field required",
    "OAuth connection 'github' not found / not connected / token expired". Names keep
    their case, except pydantic-settings fields, which are matched case-insensitively
    and reported upper case. Nothing found is an empty set.
    """
    # A traceback ends with the error, so its end is what is kept of a huge one.
    text = f"{message[:MAX_INPUT_LENGTH]}\n{(traceback or '')[-MAX_INPUT_LENGTH:]}"
    names: set[str] = set()
    key_error = _KEY_ERROR_MESSAGE.fullmatch(message)
    if key_error:
        names.add(key_error["names"])
    for pattern in _ENV_PATTERNS:
        for match in pattern.finditer(text):
            names.update(_split_names(match["names"]))
    names.update(match["name"].upper() for match in _PYDANTIC_MISSING.finditer(text))
    for pattern in _OAUTH_PATTERNS:
        names.update(match["name"] for match in pattern.finditer(text))
    return names


def _split_names(found: str) -> list[str]:
    return [name for name in _LIST_ITEM.findall(found) if name.lower() not in _LIST_WORDS]
