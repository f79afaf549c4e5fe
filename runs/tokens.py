"""Folding streamed ``llm_new_token`` events into one LLM call record.

Pure Python: no Django, no database. A call's tokens are kept as one compact JSON
list on the call's row (``tokens_to_json``), never a row per token. Each batch of
token events is merged into it (``merge_tokens``) and the call's text and timing
recomputed (``call_summary``).

Order and identity of a token, its key (see ``token_key``):

- a token with a ``seq`` is ordered and deduplicated by ``seq`` alone: ``seq`` is the
  emitter's per-run counter, so one seq is one token however often it is re-sent;
- a token without one is ordered by ``ts`` and deduplicated by ``(ts, event_id)``;
  ``ts`` comes first because event ids are usually random UUIDs;
- every token with a seq sorts before every token without one. The two orders cannot
  be interleaved consistently, and a call's tokens normally all have a seq or all
  lack one.

When two tokens share a key but differ (a buggy emitter), the one with the earlier
``ts``, then the smaller text, is kept, so the result never depends on which batch
came first.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain, pairwise
from operator import attrgetter
from typing import Any

STALL_MIN_MS = 2_000
STALL_MEDIAN_FACTOR = 10

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MILLISECOND = timedelta(milliseconds=1)
_WITH_SEQ = 0
_WITHOUT_SEQ = 1

TokenKey = tuple[int, int] | tuple[int, int, str]


@dataclass(frozen=True, slots=True)
class Token:
    """One streamed token (or chunk) of an LLM call."""

    key: TokenKey
    ts: datetime
    text: str


@dataclass(frozen=True, slots=True)
class Stall:
    """A pause in the stream: ``gap_ms`` between token ``after_index`` and the next."""

    after_index: int
    gap_ms: int


@dataclass(frozen=True, slots=True)
class CallSummary:
    """What a call's tokens add up to, for its row and its timing strip.

    ``token_count`` counts token events; a provider may stream several model tokens
    in one event, so the billed count comes from ``usage`` events, not from here.
    """

    text: str
    token_count: int
    first_token_at: datetime | None
    last_token_at: datetime | None
    duration: timedelta | None
    tokens_per_second: float | None
    offsets_ms: list[int]
    stalls: list[Stall]


def token_key(seq: int | None, ts: datetime, event_id: str) -> TokenKey:
    """Return the sort and dedupe key of a token event.

    ``(0, seq)`` when the event has a seq, else ``(1, ts in epoch microseconds,
    event_id)``: tokens with a seq come first, in seq order; the rest follow in time
    order, event id breaking ties. ``ts`` must be timezone-aware.
    """
    if seq is not None:
        return (_WITH_SEQ, seq)
    return (_WITHOUT_SEQ, _epoch_us(ts), event_id)


def make_token(seq: int | None, ts: datetime, event_id: str, text: str) -> Token:
    """Return the ``Token`` of one ``llm_new_token`` event."""
    return Token(key=token_key(seq, ts, event_id), ts=ts, text=text)


def merge_tokens(existing: list[Token], new: list[Token]) -> list[Token]:
    """Return the union of two token lists, deduplicated by key and sorted by key.

    A re-sent token (same key) is kept once. The result does not depend on the order
    of the lists, on the order within them, nor on how often a batch is merged.
    """
    kept: dict[TokenKey, Token] = {}
    for token in chain(existing, new):
        current = kept.get(token.key)
        if current is None or (token.ts, token.text) < (current.ts, current.text):
            kept[token.key] = token
    # The stored list is already sorted and comes first, so this sort is mostly a
    # merge of one long run with the new batch.
    return sorted(kept.values(), key=attrgetter("key"))


def tokens_to_json(tokens: list[Token]) -> list[list[Any]]:
    """Return tokens in their stored, JSON-safe form.

    One ``[seq, ts_us, event_id, text]`` list per token, ``ts_us`` being epoch
    microseconds. ``seq`` is null for a token without one; ``event_id`` is null for a
    token with one, as its key does not need it.
    """
    return [_token_to_row(token) for token in tokens]


def _token_to_row(token: Token) -> list[Any]:
    if token.key[0] == _WITH_SEQ:
        return [token.key[1], _epoch_us(token.ts), None, token.text]
    return [None, _epoch_us(token.ts), token.key[2], token.text]


def tokens_from_json(rows: list[list[Any]]) -> list[Token]:
    """Return the tokens stored by ``tokens_to_json``, in the stored order."""
    return [_token_from_row(row) for row in rows]


def _token_from_row(row: list[Any]) -> Token:
    seq, ts_us, event_id, text = row
    ts = _EPOCH + timedelta(microseconds=ts_us)
    if seq is not None:
        return Token(key=(_WITH_SEQ, seq), ts=ts, text=text)
    return Token(key=(_WITHOUT_SEQ, ts_us, event_id), ts=ts, text=text)


def call_summary(
    tokens: list[Token],
    *,
    stall_min_ms: int = STALL_MIN_MS,
    stall_median_factor: float = STALL_MEDIAN_FACTOR,
) -> CallSummary:
    """Return the text and timing of a call from its tokens, as ``merge_tokens`` left them.

    ``tokens_per_second`` is the stream's rate between its first and last token,
    ``(count - 1) / duration`` (n tokens span n - 1 gaps); None with fewer than two
    tokens or no time between them. ``offsets_ms`` gives each token's offset from the
    first one. A stall is a gap longer than ``stall_min_ms`` and than
    ``stall_median_factor`` times the median gap.
    """
    if not tokens:
        return CallSummary("", 0, None, None, None, None, [], [])
    first, last = tokens[0].ts, tokens[-1].ts
    duration = last - first
    return CallSummary(
        text="".join(token.text for token in tokens),
        token_count=len(tokens),
        first_token_at=first,
        last_token_at=last,
        duration=duration,
        tokens_per_second=_rate(len(tokens), duration),
        offsets_ms=[(token.ts - first) // _MILLISECOND for token in tokens],
        stalls=_stalls(tokens, stall_min_ms, stall_median_factor),
    )


def _rate(count: int, duration: timedelta) -> float | None:
    seconds = duration.total_seconds()
    if count < 2 or seconds <= 0:
        return None
    return (count - 1) / seconds


def _stalls(tokens: list[Token], min_ms: int, median_factor: float) -> list[Stall]:
    times_us = [_epoch_us(token.ts) for token in tokens]
    gaps_us = [later - earlier for earlier, later in pairwise(times_us)]
    if not gaps_us:
        return []
    threshold_us = max(min_ms * 1_000, median_factor * statistics.median(gaps_us))
    return [
        Stall(after_index=index, gap_ms=gap // 1_000)
        for index, gap in enumerate(gaps_us)
        if gap > threshold_us
    ]


def ttft_ms(call_started_at: datetime | None, first_token_at: datetime | None) -> int | None:
    """Return the time to first token in milliseconds.

    None when either time is unknown, or when the first token is stamped before the
    call started: that is clock skew between emitters, and a negative figure would
    mislead.
    """
    if call_started_at is None or first_token_at is None:
        return None
    elapsed = first_token_at - call_started_at
    if elapsed < timedelta(0):
        return None
    return elapsed // _MILLISECOND


def _epoch_us(ts: datetime) -> int:
    return (ts - _EPOCH) // _MICROSECOND
