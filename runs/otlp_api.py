"""OTLP/HTTP traces in: `POST /api/v1/otlp/v1/traces`, and `/v1/traces` for collectors.

The answer follows the OTLP/HTTP spec, in the encoding the client sent: 200 with an
ExportTraceServiceResponse (its partial_success counts spans refused, with why), or a
google.rpc.Status with 400, 401, 403, 413, 415, 429 or 503 (`Retry-After` on the last
two). 200 means committed, as 202 does for native ingest: the batch row is durable
before the answer, and the workers apply it.
"""

import logging

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from runs.api import STORE_DOWN_RETRY_SECONDS
from runs.ingest.inbox import batch_store
from runs.protocol import MAX_REQUEST_BYTES, BodyError, Rejection
from runs.protocol.body import _decompress
from runs.protocol.otlp import (
    CONTENT_TYPES,
    JSON,
    PROTOBUF,
    decode_request,
    encode_response,
    encode_status,
)
from runs.protocol.otlp_map import spans_to_events
from runs.ratelimit import retry_after_if_limited
from studio.apikeys import KeyProblem, apikey_authenticate

logger = logging.getLogger(__name__)
KEY_HEADERS = ("X-Api-Key", "X-Charm-Key", "Api-Key")  # what a collector's `headers:` can set
PROBLEMS_SHOWN = 5
# google.rpc.Code for each HTTP status this endpoint answers with.
_RPC_CODES = {400: 3, 401: 16, 403: 7, 413: 3, 415: 3, 429: 8, 503: 14}


@csrf_exempt  # authenticated by API key, never by cookie
@require_POST
def traces(request: HttpRequest) -> HttpResponse:
    media = request.content_type or ""
    answer_in = PROTOBUF if media == PROTOBUF else JSON
    key = _key(request)
    if isinstance(key, KeyProblem):
        return _status(answer_in, key.status, key.message)
    retry_after = retry_after_if_limited(key.prefix, settings.INGEST_RATE_LIMIT_PER_MINUTE)
    if retry_after:
        limit = settings.INGEST_RATE_LIMIT_PER_MINUTE
        return _status(
            answer_in,
            429,
            f"rate limit of {limit} requests a minute reached",
            retry_after=retry_after,
        )
    if media not in CONTENT_TYPES:
        return _status(
            answer_in,
            415,
            f"unsupported Content-Type {media!r}; OTLP/HTTP sends {PROTOBUF} or {JSON}",
        )
    declared = request.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        return _status(
            answer_in,
            413,
            f"request is {int(declared):,} bytes; the limit is {MAX_REQUEST_BYTES:,}",
        )
    body = request.read(MAX_REQUEST_BYTES + 1)
    if len(body) > MAX_REQUEST_BYTES:
        return _status(answer_in, 413, f"request is over {MAX_REQUEST_BYTES:,} bytes")
    try:
        body = _decompress(body, request.headers.get("Content-Encoding"))
        spans = decode_request(body, media)
    except BodyError as error:
        return _status(answer_in, error.status, error.message)
    events, problems = spans_to_events(spans, received_at=timezone.now())
    try:
        with transaction.atomic():
            batch_store(
                project=key.project,
                events=events,
                rejected=[Rejection(n, problem) for n, problem in enumerate(problems)],
                source="otlp",
            )
    except (OperationalError, InterfaceError, DatabaseError):
        logger.exception("OTLP ingest could not store a batch")
        return _status(
            answer_in, 503, "the store is unavailable", retry_after=STORE_DOWN_RETRY_SECONDS
        )
    return HttpResponse(
        encode_response(answer_in, len(problems), _summary(problems)), content_type=answer_in
    )


def _key(request: HttpRequest):
    authorization = request.headers.get("Authorization")
    if not authorization:
        raw = next((request.headers[h] for h in KEY_HEADERS if request.headers.get(h)), None)
        if raw:
            authorization = f"Bearer {raw.strip()}"
    try:
        result = apikey_authenticate(authorization, "ingest")
    except (OperationalError, InterfaceError):
        return KeyProblem(503, "the store is unavailable")
    if isinstance(result, KeyProblem) and result.status == 401 and not authorization:
        return KeyProblem(
            401, "missing API key; send 'Authorization: Bearer <key>' or 'x-api-key: <key>'"
        )
    return result


def _summary(problems: list[str]) -> str:
    if not problems:
        return ""
    shown = "; ".join(problems[:PROBLEMS_SHOWN])
    more = len(problems) - PROBLEMS_SHOWN
    return f"{len(problems)} span(s) rejected: {shown}" + (f"; and {more} more" if more > 0 else "")


def _status(media: str, status: int, message: str, retry_after: int | None = None) -> HttpResponse:
    response = HttpResponse(
        encode_status(media, _RPC_CODES.get(status, 2), message), status=status, content_type=media
    )
    if retry_after is None and status == 503:
        retry_after = STORE_DOWN_RETRY_SECONDS
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response
