"""How fast `parse_body` turns NDJSON into events, on one core.

Run from the repository root: `.venv/bin/python -m bench.parse_speed`.
Generates 100,000 realistic events (mostly streamed tokens, tool calls and logs, as an
agent emits them), sends them in requests of 5,000 events and prints events/s.
"""

import gzip
import json
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from runs.protocol import parse_body

EVENT_COUNT = 100_000
EVENTS_PER_REQUEST = 5_000
ROUNDS = 3
START = datetime.now(UTC) - timedelta(hours=1)
WORDS = ["the", "invoice", "for", "customer", "is", "overdue", "by", "thirty", "days", "please"]


def make_event(rng: random.Random, run: int, seq: int) -> dict:
    kind = rng.choices(
        ["llm_new_token", "tool_start", "tool_end", "log", "usage", "status", "agent_action"],
        weights=[50, 10, 10, 20, 4, 3, 3],
    )[0]
    data: dict
    if kind == "llm_new_token":
        data = {"token": rng.choice(WORDS) + " ", "model": "gpt-4o", "call_id": f"c{seq // 50}"}
    elif kind == "tool_start":
        data = {"tool_name": "search", "input_str": " ".join(rng.sample(WORDS, 4)), "span_id": "t1"}
    elif kind == "tool_end":
        data = {"tool_name": "search", "output": {"hits": [{"id": 981, "score": 0.87}]}}
    elif kind == "log":
        data = {"message": " ".join(rng.sample(WORDS, 8)), "level": "info", "logger": "agent"}
    elif kind == "usage":
        data = {"model": "gpt-4o", "input_tokens": 1200, "output_tokens": 340}
    elif kind == "status":
        data = {"status": "running", "message": "step 2 of 5"}
    else:
        data = {"tool": "search", "tool_input": {"query": " ".join(rng.sample(WORDS, 3))}}
    ts = START + timedelta(milliseconds=seq * 7)
    return {
        "v": 1,
        "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
        "run_id": f"run_{run:06d}",
        "seq": seq,
        "ts": ts.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "type": kind,
        "agent": {"name": "invoice-bot", "version": "1.4.0"},
        "data": data,
    }


def make_requests() -> list[list[dict]]:
    rng = random.Random(7)
    events = [make_event(rng, n // 500, n % 500) for n in range(EVENT_COUNT)]
    return [events[i : i + EVENTS_PER_REQUEST] for i in range(0, EVENT_COUNT, EVENTS_PER_REQUEST)]


def measure(name: str, bodies: list[bytes], send: Callable[[bytes], int]) -> None:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        accepted = sum(send(body) for body in bodies)
        best = min(best, time.perf_counter() - started)
    assert accepted == EVENT_COUNT, accepted
    size = sum(len(body) for body in bodies) / EVENT_COUNT
    print(f"{name:<14} {EVENT_COUNT / best:>10,.0f} events/s  ({size:,.0f} bytes/event)")


def main() -> None:
    requests = make_requests()
    ndjson = ["\n".join(json.dumps(e) for e in batch).encode() for batch in requests]
    array = [json.dumps(batch).encode() for batch in requests]
    gzipped = [gzip.compress(body) for body in ndjson]

    def accepted(body: bytes, content_type: str, content_encoding: str | None = None) -> int:
        result = parse_body(body, content_type=content_type, content_encoding=content_encoding)
        return len(result.events)

    measure("ndjson", ndjson, lambda b: accepted(b, content_type="application/x-ndjson"))
    measure("json array", array, lambda b: accepted(b, content_type="application/json"))
    measure(
        "ndjson + gzip",
        gzipped,
        lambda b: accepted(b, content_type="application/x-ndjson", content_encoding="gzip"),
    )


if __name__ == "__main__":
    main()
