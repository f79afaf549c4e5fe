"""Hostile bodies through the real endpoints: each a clear 4xx or a per-event rejection.

Deep nesting, huge strings, invalid UTF-8, NUL, numbers out of range, far past and
future timestamps, gzip bombs, wrong content types and empty bodies, sent to
`/api/v1/ingest` and the OTLP endpoint; what is accepted is then applied as a worker
would, and must apply. Slow and oversized bodies go to a real uvicorn at the end.
"""

import gzip
import json
import socket
import time
import tracemalloc
import zlib

import pytest

from runs.ingest.inbox import batch_apply
from runs.models import Event, IngestBatch, Run
from tests.conftest import ev
from tests.runs.test_browser_run_detail import asgi_server  # noqa: F401 — a fixture

INGEST = "/api/v1/ingest"
OTLP = "/api/v1/otlp/v1/traces"
NDJSON = "application/x-ndjson"


def post(api, body: bytes | str, content_type: str = NDJSON, path: str = INGEST, **headers):
    return api.post(path, data=body, content_type=content_type, headers=headers)


def ndjson(*events) -> bytes:
    return "".join(json.dumps(e) + "\n" for e in events).encode()


def accepted_and_errors(response) -> tuple[int, list[str]]:
    assert response.status_code == 202, response.content
    answer = response.json()
    return answer["accepted"], [r["error"] for r in answer["rejected"]]


def apply_pending() -> None:
    """Apply every pending batch as a worker does; none may fail."""
    for batch_id in IngestBatch.objects.filter(status="pending").values_list("pk", flat=True):
        batch_apply(batch_id)
    assert not IngestBatch.objects.exclude(status="applied").exists()


def clear_error(response, status: int, *words: str) -> str:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    message = response.json()["error"]
    for word in words:
        assert word in message
    return message


# Deep nesting ----------------------------------------------------------------------------


def test_an_event_nested_100k_deep_is_rejected_on_its_line_and_its_neighbours_kept(api):
    deep = '{"v":1,"event_id":"deep","run_id":"r","ts":"2026-11-20T09:00:00Z","type":"log",'
    deep += '"data":{"message":"m","attributes":{"x":' + "[" * 100_000 + "]" * 100_000 + "}}}"
    body = deep.encode() + b"\n" + ndjson(ev("run_start"))

    accepted, errors = accepted_and_errors(post(api, body))

    assert accepted == 1
    assert errors == ["invalid JSON: nested too deeply"]
    apply_pending()


def test_a_json_array_nested_100k_deep_is_a_400_saying_so(api):
    clear_error(
        post(api, "[" * 100_000 + "]" * 100_000, "application/json"), 400, "nested too deeply"
    )


def test_an_event_nested_past_the_limit_names_where(api):
    nested: object = "leaf"
    for _ in range(70):
        nested = [nested]
    _, errors = accepted_and_errors(post(api, ndjson(ev("run_start", inputs=nested))))

    assert errors[0].startswith("data.inputs") and "nested more than 64 levels" in errors[0]


# Huge strings ------------------------------------------------------------------------------


def test_a_string_over_the_event_limit_is_rejected_by_itself(api):
    body = ndjson(ev("log", message="x" * (2 * 1024 * 1024)), ev("run_start"))

    accepted, errors = accepted_and_errors(post(api, body))

    assert accepted == 1
    assert errors[0].startswith("event is 2,097,") and "the limit is 1,048,576" in errors[0]
    apply_pending()


def test_a_name_over_its_limit_names_the_field(api):
    _, errors = accepted_and_errors(post(api, ndjson(ev("tool_start", tool_name="t" * 201))))

    assert errors[0].startswith("data.tool_name: expected a string of 1–200 characters, got")
    assert errors[0].endswith("(201 characters)")


def test_a_body_over_ten_mebibytes_is_a_413(api):
    body = ndjson(ev("log", message="x" * 1000)) * 11_000

    clear_error(post(api, body), 413, "the limit is 10,485,760")


# Invalid UTF-8 and NUL ----------------------------------------------------------------------


def test_invalid_utf8_rejects_only_its_line(api):
    bad = json.dumps(ev("log", message="MARK")).encode().replace(b"MARK", b"\xff\xfe\xc3")
    body = bad + b"\n" + ndjson(ev("run_start"))

    accepted, errors = accepted_and_errors(post(api, body))

    assert (accepted, errors) == (1, ["line is not valid UTF-8"])


def test_invalid_utf8_in_a_json_array_is_a_400_naming_the_byte(api):
    body = json.dumps([ev("log", message="MARK")]).encode().replace(b"MARK", b"\xff")

    clear_error(post(api, body, "application/json"), 400, "not valid UTF-8", "0xff")


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (ev("log", message="a\u0000b"), "data.message"),
        (ev("run_start", inputs={"k\u0000": 1}), 'data.inputs."k\\u0000" (key)'),
        (ev("run_start", inputs={"\ud800": 1}), 'data.inputs."\\ud800" (key)'),
        (ev("log", message="\udc00 lone"), "data.message"),
    ],
)
def test_nul_and_lone_surrogates_are_rejected_naming_the_field_and_the_batch_still_stores(
    api, event, field
):
    accepted, errors = accepted_and_errors(post(api, ndjson(event, ev("run_start"))))

    assert accepted == 1
    assert errors[0].startswith(f"{field}: string contains")
    # The rejection itself is kept on the batch row (jsonb) for the ingest health page.
    assert IngestBatch.objects.get(rejected_count=1).rejections[0]["error"] == errors[0]
    apply_pending()


def test_a_raw_nul_byte_is_invalid_json_on_its_line(api):
    body = json.dumps(ev("log", message="MARK")).encode().replace(b"MARK", b"a\x00b")

    _, errors = accepted_and_errors(post(api, body + b"\n" + ndjson(ev("run_start"))))

    assert errors[0].startswith("invalid JSON: Invalid control character at column")


def test_nul_bytes_in_a_stdout_stream_are_kept_as_replacement_characters(api, project):
    body = b"hello\x00world\nsecond \x00 line\n"

    response = post(api, body, "text/plain", **{"X-Charm-Run-Id": "nul-run"})

    assert accepted_and_errors(response) == (2, [])
    apply_pending()
    messages = [e.data["message"] for e in Event.objects.filter(type="log").order_by("seq")]
    assert messages == ["hello\ufffdworld", "second \ufffd line"]


def test_a_nul_in_the_run_id_header_is_a_400(api):
    response = post(api, b"hello\n", "text/plain", **{"X-Charm-Run-Id": "a\x00b"})

    clear_error(response, 400, "X-Charm-Run-Id", "NUL")


@pytest.mark.parametrize(
    ("url", "status", "where"),
    [
        ("/api/v1/runs?agent=%00", 400, "query string"),
        ("/api/v1/runs?q=a%00b", 400, "query string"),
        ("/api/v1/runs/%00", 404, "URL path"),
        ("/api/v1/runs/run%00/events", 404, "URL path"),
    ],
)
def test_a_nul_in_a_url_is_refused_saying_where(api, url, status, where):
    clear_error(api.get(url), status, where, "NUL")


def test_a_nul_in_a_header_is_a_400_naming_it(api):
    response = api.post(
        "/api/v1/validations",
        data=b"ok",
        content_type="text/plain",
        headers={"X-Charm-Agent": "a\x00"},
    )

    clear_error(response, 400, "X-Charm-Agent header", "NUL")


def test_a_nul_in_a_page_url_is_a_404_not_a_server_error(owner_client):
    response = owner_client.get("/runs/a%00b/")

    assert response.status_code == 404
    assert b"NUL" in response.content


# Numbers out of range -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('"inputs": 1e400', "data.inputs: expected a finite number, got Infinity"),
        ('"inputs": NaN', "data.inputs: expected a finite number, got NaN"),
        ('"inputs": -Infinity', "data.inputs: expected a finite number, got -Infinity"),
        ('"inputs": ' + "9" * 5000, "invalid JSON: a number has too many digits"),
    ],
)
def test_non_finite_and_overlong_numbers_are_rejected(api, line, expected):
    event = json.dumps(ev("run_start", inputs="MARK")).replace('"inputs": "MARK"', line)

    _, errors = accepted_and_errors(post(api, event.encode() + b"\n" + ndjson(ev("run_start"))))

    assert errors == [expected]


@pytest.mark.parametrize("tokens", [2**64, 2**63, -5, 1.5, "12"])
def test_token_counts_out_of_range_name_the_field(api, tokens):
    event = ev("usage", model="gpt-4o", input_tokens=tokens, output_tokens=1)

    _, errors = accepted_and_errors(post(api, ndjson(event)))

    assert errors[0].startswith("data.input_tokens: expected a whole number from 0 to 2^63-1")


def test_huge_integers_in_free_form_data_are_stored_as_sent(api, project):
    body = ndjson(ev("run_start", inputs={"big": 10**30, "small": -(10**25)}))

    assert accepted_and_errors(post(api, body)) == (1, [])
    apply_pending()
    assert Run.objects.get(project=project).inputs == {"big": 10**30, "small": -(10**25)}


# Far past and future timestamps ------------------------------------------------------------


@pytest.mark.parametrize(
    ("ts", "words"),
    [
        ("0001-01-01T00:00:00Z", "before 2000-01-01"),
        ("0001-01-01T00:00:00+01:00", "outside the years 1 to 9999"),
        ("9999-12-31T23:59:59Z", "more than 24 hours ahead"),
        ("9999-12-31T23:59:59-01:00", "outside the years 1 to 9999"),
        ("1999-12-31T23:59:59Z", "before 2000-01-01"),
        ("NaN", "expected an RFC 3339 timestamp"),
        (float("nan"), "expected a finite number"),
        (float("inf"), "expected a finite number"),
        (-1e300, "before 2000-01-01"),
        (1e300, "more than 24 hours ahead"),
        (253402300800, "more than 24 hours ahead"),
    ],
)
def test_timestamps_out_of_range_are_rejected_naming_ts(api, ts, words):
    event = ev("log", message="m")
    event["ts"] = ts

    _, errors = accepted_and_errors(post(api, json.dumps(event).encode()))

    assert errors[0].startswith("ts: ") and words in errors[0], errors


def test_the_oldest_and_newest_days_accepted_get_their_partitions(api, project):
    from datetime import UTC, datetime, timedelta

    soon = (datetime.now(UTC) + timedelta(hours=23)).isoformat().replace("+00:00", "Z")
    oldest = ev("log", run_id="edges", message="oldest")
    oldest["ts"] = "2000-01-01T00:00:00Z"
    newest = ev("log", run_id="edges", message="newest")
    newest["ts"] = soon

    assert accepted_and_errors(post(api, ndjson(oldest, newest))) == (2, [])
    apply_pending()
    assert Event.objects.filter(type="log").count() == 2


# Gzip bombs -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """A 2 GiB run of zeros in about 2 MB of gzip."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    parts = [squeeze.compress(block) for _ in range(2048)]
    return b"".join(parts) + squeeze.flush()


@pytest.mark.parametrize(("path", "content_type"), [(INGEST, NDJSON), (OTLP, "application/json")])
def test_a_gzip_bomb_is_refused_quickly_in_bounded_memory(api, gzip_bomb, path, content_type):
    assert len(gzip_bomb) < 3 * 1024 * 1024
    tracemalloc.start()
    started = time.monotonic()
    response = post(api, gzip_bomb, content_type, path, **{"Content-Encoding": "gzip"})
    seconds = time.monotonic() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    assert response.status_code == 413
    assert b"after gzip decompression" in response.content
    assert seconds < 5
    assert peak < 64 * 1024 * 1024  # the limit's 10 MiB, a copy, and the body; not 2 GiB


def test_a_truncated_gzip_is_a_400(api):
    body = gzip.compress(ndjson(ev("run_start")))[:-8]

    clear_error(post(api, body, **{"Content-Encoding": "gzip"}), 400, "not valid gzip")


# Wrong content types and empty bodies ------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "words"),
    [
        ("text/csv", "unsupported Content-Type 'text/csv'"),
        ("application/x-www-form-urlencoded", "--data-binary"),
        ("image/png", "send application/x-ndjson, application/json or text/plain"),
    ],
)
def test_a_wrong_content_type_is_a_415_naming_it(api, content_type, words):
    clear_error(post(api, ndjson(ev("run_start")), content_type), 415, words)


def test_an_unknown_content_encoding_is_a_415(api):
    response = post(api, ndjson(ev("run_start")), **{"Content-Encoding": "br"})

    clear_error(response, 415, "unsupported Content-Encoding 'br'")


def test_otlp_in_a_wrong_content_type_is_a_415(api):
    response = post(api, b"{}", "text/plain", OTLP)

    assert response.status_code == 415
    assert b"unsupported Content-Type" in response.content


@pytest.mark.parametrize("content_type", [NDJSON, "application/json"])
def test_an_empty_body_takes_nothing_and_says_so(api, content_type):
    assert post(api, b"", content_type).json() == {"accepted": 0, "rejected": []}
    assert post(api, b"  \n\n ", content_type).json() == {"accepted": 0, "rejected": []}


def test_an_empty_stdout_body_still_needs_its_run(api):
    clear_error(post(api, b"\n", "text/plain"), 400, "X-Charm-Run-Id")


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"null", 400, "body holds null"),
        (b"42", 400, "body holds number 42"),
        (b'"text"', 400, "body holds string"),
        (b"[1, 2]", 202, "expected an event object, got number 1"),
        (b"{}", 202, "type: required field is missing"),
    ],
)
def test_json_that_holds_no_event_is_refused_or_rejected_clearly(api, body, status, words):
    response = post(api, body, "application/json")

    if status == 400:
        clear_error(response, 400, words)
    else:
        accepted, errors = accepted_and_errors(response)
        assert accepted == 0 and words in errors[0]


# OTLP out of range ------------------------------------------------------------------------------


def otlp_span(**fields) -> bytes:
    span = {
        "traceId": "ab" * 16,
        "spanId": "cd" * 8,
        "name": "root",
        "startTimeUnixNano": "1764547200000000000",
        "endTimeUnixNano": "1764547201000000000",
        **fields,
    }
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"startTimeUnixNano": "9" * 30}, "expected a time in Unix nanoseconds"),
        ({"endTimeUnixNano": str(2**64 - 1)}, "more than 24 hours ahead"),
        ({"attributes": [{"key": "x", "value": {"doubleValue": "abc"}}]}, "doubleValue"),
        ({"attributes": [{"key": "x", "value": {"kvlistValue": [1]}}]}, "kvlistValue"),
        ({"events": 5}, "events: expected an array"),
        (
            {"attributes": [
                {"key": "input.value", "value": {"stringValue": '"\\u0000"'}},
                {"key": "input.mime_type", "value": {"stringValue": "application/json"}},
            ]},
            "NUL",
        ),
    ],
)  # fmt: skip
def test_otlp_spans_out_of_range_are_rejected_naming_the_span(api, fields, words):
    response = post(api, otlp_span(**fields), "application/json", OTLP)

    assert response.status_code == 200, response.content
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    assert "span" in partial["errorMessage"] and words in partial["errorMessage"]


def test_otlp_json_nested_100k_deep_is_a_400(api):
    response = post(api, b"[" * 100_000, "application/json", OTLP)

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["message"]


# A real server: slow and oversized bodies ------------------------------------------------------


@pytest.fixture
def slow_server(transactional_db, monkeypatch, request):
    """uvicorn on the test database, with a 2-second body timeout."""
    monkeypatch.setenv("REQUEST_BODY_TIMEOUT_SECONDS", "2")
    return request.getfixturevalue("asgi_server")


def raw_request(url: str, head: bytes, pieces, pause: float) -> tuple[bytes, float]:
    """Send `head`, then each piece `pause` seconds apart while the server listens;
    the server's whole answer and the seconds it took."""
    host, port = url.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=15) as sock:
        sock.sendall(head)
        for piece in pieces:
            try:
                sock.sendall(piece)
            except OSError:
                break  # the server closed the connection
            time.sleep(pause)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer, time.monotonic() - started


def ingest_head(key: str, extra: str) -> bytes:
    return (
        f"POST {INGEST} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: {NDJSON}\r\n{extra}\r\n"
    ).encode()


def test_a_client_trickling_its_body_is_cut_off_with_a_408(slow_server, ingest_key):
    body = ndjson(ev("run_start"))
    head = ingest_head(ingest_key, f"Content-Length: {len(body)}\r\n")

    answer, seconds = raw_request(slow_server, head, [body[i : i + 1] for i in range(30)], 0.25)

    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"did not arrive within 2 seconds" in answer
    assert seconds < 8  # cut off at 2 s, not after the whole trickle (or never)


def test_a_chunked_body_that_never_ends_is_cut_off_with_a_408(slow_server, ingest_key):
    head = ingest_head(ingest_key, "Transfer-Encoding: chunked\r\n")

    answer, seconds = raw_request(slow_server, head, [b"1\r\n{\r\n"] * 30, 0.25)

    assert answer.startswith(b"HTTP/1.1 408 ")
    assert seconds < 8


def test_a_declared_huge_body_is_refused_before_it_is_sent(slow_server, ingest_key):
    head = ingest_head(ingest_key, f"Content-Length: {50 * 1024**3}\r\n")

    answer, seconds = raw_request(slow_server, head, [], 0)

    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"the limit is 10,485,760" in answer
    assert seconds < 3


def test_a_chunked_body_past_the_limit_is_refused_without_reading_it_all(slow_server, ingest_key):
    head = ingest_head(ingest_key, "Transfer-Encoding: chunked\r\n")
    chunk = b"%x\r\n%s\r\n" % (1024 * 1024, b"x" * 1024 * 1024)

    answer, _ = raw_request(slow_server, head, [chunk] * 200, 0)  # 200 MiB offered

    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"over 10,485,760 bytes" in answer


def test_a_normal_body_through_the_guard_is_taken(slow_server, ingest_key):
    body = ndjson(ev("run_start"), ev("log", message="hello"))
    head = ingest_head(ingest_key, f"Content-Length: {len(body)}\r\nConnection: close\r\n")

    answer, _ = raw_request(slow_server, head, [body], 0)

    assert answer.startswith(b"HTTP/1.1 202 ")
    assert b'"accepted": 2' in answer
