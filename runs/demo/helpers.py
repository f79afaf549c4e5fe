"""Small helpers of the demo generator: ids, money, timestamps, sentences and tokens."""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_CENT = Decimal("0.01")


def _uuid4(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _hex(rng: random.Random, length: int) -> str:
    return f"{rng.getrandbits(4 * length):0{length}x}"


def _stripe_id(rng: random.Random, prefix: str) -> str:
    return prefix + "_" + "".join(rng.choices(_ALNUM, k=24))


def _money(amount: Decimal) -> str:
    """A decimal string with two places, as the protocol wants amounts."""
    return str(amount.quantize(_CENT))


def _display_money(amount: Decimal, currency: str) -> str:
    symbol = {"USD": "$", "EUR": "€"}[currency]
    return f"{symbol}{amount.quantize(_CENT):,}"


def _count(n: int, noun: str) -> str:
    """``_count(1, "invoice")`` is "one invoice", ``_count(3, "invoice")`` "3 invoices"."""
    return f"one {noun}" if n == 1 else f"{n} {noun}s"


def _format_ts(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _utc_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        return now.replace(tzinfo=UTC)
    return now.astimezone(UTC)


def _sentences(rng: random.Random, slots: Sequence[Sequence[str]], ctx: dict[str, Any]) -> str:
    """One sentence per slot, each picked among the slot's variants and filled in."""
    return " ".join(rng.choice(variants).format(**ctx) for variants in slots)


# BPE-like pieces: a word with its leading space, up to three digits, one punctuation
# mark, or a run of whitespace. Long words are cut further, like real tokenizers do.
_TOKEN_RE = re.compile(r" ?[A-Za-z]+| ?\d{1,3}| ?[^\sA-Za-z\d]|\s+")
_SUBWORD_SIZES = (6, 4, 5)
_LONG_WORD = 8


def _tokenize(text: str) -> list[str]:
    """Split ``text`` into token-sized pieces whose concatenation is exactly ``text``."""
    tokens: list[str] = []
    for piece in _TOKEN_RE.findall(text):
        if len(piece) <= _LONG_WORD or not piece.strip().isalpha():
            tokens.append(piece)
            continue
        start, index = 0, 0
        while start < len(piece):
            size = _SUBWORD_SIZES[index % len(_SUBWORD_SIZES)]
            tokens.append(piece[start : start + size])
            start, index = start + size, index + 1
    return tokens
