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
from typing import Any, NamedTuple

STALL_MIN_MS = 2_000
STALL_MEDIAN_FACTOR = 10

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MILLISECOND = timedelta(milliseconds=1)
_WITH_SEQ = 0
_WITHOUT_SEQ = 1

TokenKey = tuple[int, int] | tuple[int, int, str]


class Token(NamedTuple):
    """One streamed token (or chunk) of an LLM call, as it is stored: a tuple, cheap
    to make, and its time in epoch microseconds (datetimes cost more to make and
    subtract, and a call holds thousands of tokens)."""

    seq: int | None
    ts_us: int
    event_id: str | None  # None beside a seq: the key does not need it
    text: str

    @property
    def key(self) -> TokenKey:
        if self.seq is not None:
            return (_WITH_SEQ, self.seq)
        return (_WITHOUT_SEQ, self.ts_us, self.event_id)

    @property
    def ts(self) -> datetime:
        return _at(self.ts_us)


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
    return make_token(seq, ts, event_id, "").key  # the rule lives in Token.key alone


def make_token(seq: int | None, ts: datetime, event_id: str, text: str) -> Token:
    """Return the ``Token`` of one ``llm_new_token`` event. ``ts`` must be timezone-aware."""
    return Token(seq, _epoch_us(ts), None if seq is not None else event_id, text)


def merge_tokens(existing: list[Token], new: list[Token]) -> list[Token]:
    """Return the union of two token lists, deduplicated by key and sorted by key.

    A re-sent token (same key) is kept once. The result does not depend on the order
    of the lists, on the order within them, nor on how often a batch is merged.
    """
    # Keyed by seq, or by (ts_us, event_id) without one: an int never equals a tuple.
    kept: dict[int | tuple[int, str | None], Token] = {}
    for token in chain(existing, new):
        key = token.seq if token.seq is not None else (token.ts_us, token.event_id)
        current = kept.get(key)
        if current is None or (token.ts_us, token.text) < (current.ts_us, current.text):
            kept[key] = token
    with_seq = [token for token in kept.values() if token.seq is not None]
    if len(with_seq) == len(kept):
        return sorted(with_seq, key=_SEQ)
    without = [token for token in kept.values() if token.seq is None]
    return sorted(with_seq, key=_SEQ) + sorted(without, key=_TIME_THEN_ID)


_SEQ = attrgetter("seq")
_TIME_THEN_ID = attrgetter("ts_us", "event_id")


def tokens_to_json(tokens: list[Token]) -> list[list[Any]]:
    """Return tokens in their stored, JSON-safe form.

    One ``[seq, ts_us, event_id, text]`` list per token, ``ts_us`` being epoch
    microseconds. ``seq`` is null for a token without one; ``event_id`` is null for a
    token with one, as its key does not need it.
    """
    return [list(token) for token in tokens]


def tokens_from_json(rows: list[list[Any]]) -> list[Token]:
    """Return the tokens stored by ``tokens_to_json``, in the stored order."""
    return [Token(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class CallText:
    """What a call's tokens say and when: the part of ``CallSummary`` its row keeps."""

    text: str
    token_count: int
    first_token_at: datetime | None
    last_token_at: datetime | None


def call_text(tokens: list[Token]) -> CallText:
    """Return the text of a call and the times of its first and last token, from its
    tokens as ``merge_tokens`` left them."""
    if not tokens:
        return CallText("", 0, None, None)
    text = "".join([token.text for token in tokens])
    return CallText(text, len(tokens), tokens[0].ts, tokens[-1].ts)


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
    told = call_text(tokens)
    first_us = tokens[0].ts_us
    duration = timedelta(microseconds=tokens[-1].ts_us - first_us)
    return CallSummary(
        text=told.text,
        token_count=told.token_count,
        first_token_at=told.first_token_at,
        last_token_at=told.last_token_at,
        duration=duration,
        tokens_per_second=_rate(len(tokens), duration),
        offsets_ms=[(token.ts_us - first_us) // 1_000 for token in tokens],
        stalls=_stalls(tokens, stall_min_ms, stall_median_factor),
    )


def _rate(count: int, duration: timedelta) -> float | None:
    seconds = duration.total_seconds()
    if count < 2 or seconds <= 0:
        return None
    return (count - 1) / seconds


def _stalls(tokens: list[Token], min_ms: int, median_factor: float) -> list[Stall]:
    times_us = [token.ts_us for token in tokens]
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


def _at(ts_us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ts_us)
