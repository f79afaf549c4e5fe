import hashlib
import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from runs.tokens import (
    Stall,
    Token,
    call_summary,
    make_token,
    merge_tokens,
    token_key,
    tokens_from_json,
    tokens_to_json,
    ttft_ms,
)

T0 = datetime(2026, 11, 25, 11, 24, 41, 123456, tzinfo=UTC)
SENTENCE = "The overdue invoices are 17 , 18 and 21 ; all sent to ACME Corp in November ."
WORDS = SENTENCE.split(" ")


def at(ms: float) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def random_looking_id(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()[:32]


def streamed(words: list[str], *, with_seq: bool, gap_ms: float = 20) -> list[Token]:
    return [
        make_token(i if with_seq else None, at(i * gap_ms), random_looking_id(i), word + " ")
        for i, word in enumerate(words)
    ]


def text_of(tokens: list[Token]) -> str:
    return "".join(token.text for token in tokens)


def split_into_batches(tokens: list[Token], rng: random.Random) -> list[list[Token]]:
    shuffled = tokens[:]
    rng.shuffle(shuffled)
    cuts = sorted(rng.sample(range(1, len(shuffled)), k=rng.randint(0, 5)))
    return [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True)]


def deliver(batches: list[list[Token]]) -> list[Token]:
    stored: list[Token] = []
    for batch in batches:
        # As the worker does: load the stored list, merge the batch, store it again.
        rows = json.loads(json.dumps(tokens_to_json(merge_tokens(stored, batch))))
        stored = tokens_from_json(rows)
    return stored


@pytest.mark.parametrize("with_seq", [True, False])
def test_reordered_and_resent_tokens_give_the_same_text(with_seq):
    tokens = streamed(WORDS, with_seq=with_seq)
    rng = random.Random(7)
    resent = tokens + rng.sample(tokens, k=10)
    rng.shuffle(resent)

    merged = merge_tokens([], resent)

    assert call_summary(merged).text == SENTENCE + " "
    assert len(merged) == len(WORDS)


@pytest.mark.parametrize("with_seq", [True, False])
def test_merging_batches_in_any_order_any_number_of_times_gives_the_same_tokens(with_seq):
    for seed in range(300):
        rng = random.Random(seed)
        tokens = streamed(WORDS, with_seq=with_seq, gap_ms=rng.choice([0, 1, 20]))
        expected = merge_tokens([], tokens)
        batches = split_into_batches(tokens, rng)
        deliveries = batches + rng.sample(batches, k=rng.randint(0, len(batches)))
        rng.shuffle(deliveries)

        stored = deliver(deliveries)

        assert stored == expected, f"seed {seed}"
        assert merge_tokens(stored, stored) == expected, f"seed {seed}"


def test_tokens_without_seq_are_ordered_by_time_then_event_id():
    late = make_token(None, at(5), "aaa", "late")
    early_b = make_token(None, at(1), "bbb", "B")
    early_a = make_token(None, at(1), "aaa", "A")

    assert text_of(merge_tokens([late], [early_b, early_a])) == "ABlate"


def test_seq_orders_tokens_even_against_their_timestamps():
    second = make_token(1, at(0), "x", "world")
    first = make_token(0, at(3), "y", "hello ")

    assert text_of(merge_tokens([second], [first])) == "hello world"


def test_tokens_with_seq_come_before_tokens_without():
    without = make_token(None, at(0), "a", "b")
    with_seq = make_token(99, at(50), "b", "a")

    assert text_of(merge_tokens([without], [with_seq])) == "ab"


def test_a_token_resent_with_a_new_event_id_but_the_same_seq_counts_once():
    original = make_token(3, at(10), "first-id", "tok")
    resent = make_token(3, at(10), "second-id", "tok")

    assert merge_tokens([original], [resent]) == [original]


def test_conflicting_duplicates_keep_the_same_one_whatever_the_arrival_order():
    early = make_token(3, at(10), "a", "early")
    later = make_token(3, at(12), "b", "later")

    assert merge_tokens([early], [later]) == merge_tokens([later], [early]) == [early]


def test_key_of_a_naive_timestamp_is_refused():
    with pytest.raises(TypeError):
        token_key(None, datetime(2026, 1, 1), "e")


def test_stored_form_is_json_and_round_trips():
    tokens = merge_tokens(
        [], [*streamed(["a", "b"], with_seq=True), *streamed(["c"], with_seq=False)]
    )

    rows = json.loads(json.dumps(tokens_to_json(tokens)))

    assert tokens_from_json(rows) == tokens
    assert rows[0] == [0, int(T0.timestamp()) * 1_000_000 + T0.microsecond, None, "a "]
    assert rows[2] == [None, rows[0][1], random_looking_id(0), "c "]


def test_summary_gives_text_count_times_and_rate():
    tokens = merge_tokens([], streamed(["a", "b", "c", "d", "e"], with_seq=True, gap_ms=250))

    summary = call_summary(tokens)

    assert summary.text == "a b c d e "
    assert summary.token_count == 5
    assert summary.first_token_at == T0
    assert summary.last_token_at == at(1000)
    assert summary.duration == timedelta(seconds=1)
    assert summary.tokens_per_second == pytest.approx(4.0)
    assert summary.offsets_ms == [0, 250, 500, 750, 1000]
    assert summary.stalls == []


def test_summary_of_one_token_has_no_rate():
    summary = call_summary([make_token(0, T0, "e", "hi")])

    assert summary.tokens_per_second is None
    assert summary.offsets_ms == [0]


def test_summary_of_tokens_sharing_a_timestamp_has_no_rate():
    tokens = merge_tokens([], streamed(["a", "b"], with_seq=True, gap_ms=0))

    assert call_summary(tokens).tokens_per_second is None


def test_summary_of_no_tokens_is_empty():
    summary = call_summary([])

    assert (summary.text, summary.token_count, summary.first_token_at) == ("", 0, None)
    assert summary.duration is None
    assert summary.stalls == []


def test_a_long_pause_in_the_stream_is_a_stall():
    times = [0, 30, 60, 90, 3590, 3620, 3650]
    tokens = [make_token(i, at(ms), "e", "x") for i, ms in enumerate(times)]

    assert call_summary(tokens).stalls == [Stall(after_index=3, gap_ms=3500)]


def test_a_steadily_slow_stream_has_no_stall():
    tokens = [make_token(i, at(i * 3000), "e", "x") for i in range(5)]

    assert call_summary(tokens).stalls == []


def test_a_pause_under_two_seconds_is_not_a_stall():
    times = [0, 10, 20, 30, 1900]
    tokens = [make_token(i, at(ms), "e", "x") for i, ms in enumerate(times)]

    assert call_summary(tokens).stalls == []


def test_time_to_first_token_is_from_the_call_start():
    assert ttft_ms(T0, at(812.9)) == 812
    assert ttft_ms(T0, T0) == 0


def test_time_to_first_token_is_unknown_without_a_start_or_with_clock_skew():
    assert ttft_ms(None, T0) is None
    assert ttft_ms(T0, None) is None
    assert ttft_ms(at(5), T0) is None
