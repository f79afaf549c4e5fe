"""Redaction for shared run pages: pure functions over text and JSON values.

What goes: the values of the run's declared environment variables and OAuth
connections (its config names them, never their values, so a value is taken from
where the run shows it assigned, `NAME=value`, and then removed everywhere it
appears), anything shaped like an API key, a bearer token, a password or an email,
and the project's own patterns. Each becomes a visible `[redacted]`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[redacted]"
MIN_LEARNED = 6  # shorter "values" (`true`, `none`) would hide ordinary words everywhere
MAX_PROJECT_PATTERNS = 50
MAX_PATTERN_CHARS = 300

# Names whose value is a secret, as the whole key or its last part: `password`,
# `db_password`, `access_token`, `X-Api-Key` (but not `max_tokens`).
_SENSITIVE_NAMES = (
    r"password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key"
    r"|secret[_-]?key|client[_-]?secret|authorization|credentials?|cookie|session[_-]?id"
)
_SECRET_KEY = re.compile(rf"(?:^|[_.\-\s])(?:{_SENSITIVE_NAMES})$", re.IGNORECASE)

# A value after `key=` / `key: ` / `"key": `: quoted (may hold spaces) or bare.
_VALUE = (  # never a value redacted already, so no rule redacts another's marker
    r"""(?!["']?\[redacted\])(?:"(?P<dq>[^"\n]*)"|'(?P<sq>[^'\n]*)'"""
    r"""|(?!(?:bearer|basic)\s)(?P<bare>[^\s'",;}&)\]]+))"""
)
_ASSIGN = r"""(?P<sep>["']?\s*[:=]\s*)"""
_SECRET_ASSIGNMENT = re.compile(
    rf"(?P<key>\b[\w.-]*?(?:{_SENSITIVE_NAMES})){_ASSIGN}{_VALUE}", re.IGNORECASE
)

# Shapes of keys and tokens, whatever they are next to.
_SHAPES = [
    re.compile(
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)"
    ),
    re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{16,}"),  # OpenAI, Anthropic
    re.compile(r"\b(?:sk|rk|pk|whsec)_(?:live|test)_[A-Za-z0-9]{8,}"),  # Stripe
    re.compile(r"\bwhsec_[A-Za-z0-9]{16,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}"),  # GitHub
    re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}"),  # GitLab
    re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"),  # Slack
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"\bAIza[0-9A-Za-z_\-]{35}"),  # Google
    re.compile(r"\bchs_[A-Za-z0-9_\-]{20,}"),  # Charm Studio's own API keys
    re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),  # JWT
]
# A token has a digit or a symbol in it: "bearer authentication" is prose, not a token.
_BEARER = re.compile(
    r"\b(?P<kind>bearer|basic)\s+(?=[A-Za-z]*[\d\-._~+/=])[A-Za-z0-9\-._~+/]{8,}=*", re.I
)
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.\-]*://[^\s:/@]+:)[^\s@/]+(?=@)", re.I)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b")


def compile_project_patterns(text: str) -> list[re.Pattern]:
    """A project's patterns, one regular expression a line; ValueError names a bad one."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if len(lines) > MAX_PROJECT_PATTERNS:
        raise ValueError(f"at most {MAX_PROJECT_PATTERNS} patterns; got {len(lines)}")
    patterns = []
    for number, line in enumerate(lines, start=1):
        if len(line) > MAX_PATTERN_CHARS:
            raise ValueError(f"pattern {number} is longer than {MAX_PATTERN_CHARS} characters")
        try:
            pattern = re.compile(line)
        except re.error as error:
            raise ValueError(f"pattern {number} ({line[:60]}) is not valid: {error}") from None
        if pattern.match(""):
            raise ValueError(f"pattern {number} ({line[:60]}) matches empty text")
        patterns.append(pattern)
    return patterns


def declared_secret_names(config: object) -> list[str]:
    """The env var and OAuth connection names the run's config declares."""
    if not isinstance(config, dict):
        return []
    names = []
    for key in ("required_env", "oauth"):
        value = config.get(key)
        if isinstance(value, list):
            names += [str(n) for n in value if isinstance(n, str) and n.strip()]
    return sorted(set(names), key=len, reverse=True)


class Redactor:
    """Redacts text and JSON for one run; remembers declared values once it saw them."""

    def __init__(self, *, names: Iterable[str] = (), patterns: Iterable[re.Pattern] = ()) -> None:
        self.names = [n for n in names if n]
        self.patterns = list(patterns)
        self.learned: set[str] = set()
        self._learned_re: re.Pattern | None = None
        self._declared = None
        if self.names:
            alternatives = "|".join(re.escape(n) for n in self.names)
            # `GITHUB=`, `github_token:`, `"STRIPE_API_KEY": "…"`.
            suffix = r"(?:[_-]?(?:access[_-]?)?(?:token|key|secret))?"
            key = rf"(?P<key>(?<![\w-])(?:{alternatives}){suffix})"
            self._declared = re.compile(rf"{key}{_ASSIGN}{_VALUE}", re.IGNORECASE)
        lowered = {n.lower() for n in self.names}
        self._declared_keys = lowered

    # ── Learning ──────────────────────────────────────────────────────────

    def learn(self, texts: Iterable[str]) -> None:
        """Take the values assigned to declared names (and to secret-named keys) in
        `texts`, so they are redacted wherever else they appear."""
        for text in texts:
            for pattern in filter(None, (self._declared, _SECRET_ASSIGNMENT)):
                for match in pattern.finditer(text or ""):
                    self._remember(_value_of(match))

    def _remember(self, value: str | None) -> None:
        value = (value or "").strip()
        if len(value) >= MIN_LEARNED and REDACTED not in value and value not in self.learned:
            self.learned.add(value)
            self._learned_re = None

    # ── Redacting ─────────────────────────────────────────────────────────

    def text(self, value: str) -> str:
        """`value` with every secret in it replaced by [redacted]."""
        if not value:
            return value
        text = str(value)
        text = _URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED, text)
        text = _BEARER.sub(lambda m: f"{m.group('kind')} {REDACTED}", text)
        if self._declared is not None:
            text = self._declared.sub(self._assignment, text)
        text = _SECRET_ASSIGNMENT.sub(self._assignment, text)
        for pattern in _SHAPES:
            text = pattern.sub(REDACTED, text)
        text = _EMAIL.sub(REDACTED, text)
        for pattern in self.patterns:
            text = pattern.sub(REDACTED, text)
        learned = self._learned_pattern()
        if learned is not None:
            text = learned.sub(REDACTED, text)
        return text

    def value(self, value: object, *, _depth: int = 0) -> object:
        """A JSON value with secret-named keys' values and secrets in strings redacted."""
        if isinstance(value, str):
            return self.text(value)
        if _depth > 50:  # deeper than any real payload: hide it rather than recurse on
            return REDACTED
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                name = str(key)
                if self.is_secret_key(name) and item not in (None, "", [], {}):
                    if isinstance(item, str):
                        self._remember(item)
                    out[self.text(name)] = REDACTED
                else:
                    out[self.text(name)] = self.value(item, _depth=_depth + 1)
            return out
        if isinstance(value, list):
            return [self.value(item, _depth=_depth + 1) for item in value]
        return value

    def cut_text(self, value: str) -> str:
        """A text a read cut short: its partial last word goes before redacting."""
        return self.text(drop_partial_word(value)) if value else value

    def is_secret_key(self, name: str) -> bool:
        return name.lower() in self._declared_keys or bool(_SECRET_KEY.search(name))

    def _assignment(self, match: re.Match) -> str:
        value = _value_of(match)
        if not value or value == REDACTED:
            return match.group(0)
        self._remember(value)
        quote = next(
            (q for group, q in (("dq", '"'), ("sq", "'")) if match.group(group) is not None), ""
        )
        return f"{match.group('key')}{match.group('sep')}{quote}{REDACTED}{quote}"

    def _learned_pattern(self) -> re.Pattern | None:
        if not self.learned:
            return None
        if self._learned_re is None:
            ordered = sorted(self.learned, key=len, reverse=True)
            self._learned_re = re.compile("|".join(re.escape(v) for v in ordered))
        return self._learned_re


def _value_of(match: re.Match) -> str | None:
    for group in ("dq", "sq", "bare"):
        if match.group(group) is not None:
            return match.group(group)
    return None


def drop_partial_word(text: str) -> str:
    """A value cut short may end inside a secret too short to recognise: drop its
    last, partial word, so no fragment of a key survives the cut."""
    cut = max(text.rfind(" "), text.rfind("\n"), text.rfind(","))
    return text[: cut + 1] if cut > 0 else ""
