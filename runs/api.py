"""HTTP API v1: ingest and the read endpoints. Keys, not sessions, authenticate here."""

import logging

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from runs import serializers
from runs.ingest.inbox import batch_store
from runs.models import ValidationReport
from runs.protocol import ENVIRONMENTS, MAX_REQUEST_BYTES, BodyError, parse_body
from runs.ratelimit import retry_after_if_limited
from runs.selectors.runs import FilterError, RunFilters, run_get, runs_page
from runs.validation_report import validation_read
from studio.apikeys import KeyProblem, apikey_authenticate

logger = logging.getLogger(__name__)
STORE_DOWN_RETRY_SECONDS = 5


def _error(status: int, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _key_or_error(request: HttpRequest, scope: str):
    try:
        result = apikey_authenticate(request.headers.get("Authorization"), scope)
    except (OperationalError, InterfaceError):
        return _error(503, "the store is unavailable", Retry_After=str(STORE_DOWN_RETRY_SECONDS))
    if isinstance(result, KeyProblem):
        return _error(result.status, result.message)
    return result


@csrf_exempt  # authenticated by API key, never by cookie
@require_POST
def ingest(request: HttpRequest) -> JsonResponse:
    """Accept events; 202 only once the batch is committed to PostgreSQL."""
    key = _key_or_error(request, "ingest")
    if isinstance(key, JsonResponse):
        return key
    retry_after = retry_after_if_limited(key.prefix, settings.INGEST_RATE_LIMIT_PER_MINUTE)
    if retry_after:
        return _error(
            429,
            f"rate limit of {settings.INGEST_RATE_LIMIT_PER_MINUTE} requests a minute reached",
            Retry_After=str(retry_after),
        )
    declared = request.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        return _error(
            413, f"request is {int(declared):,} bytes; the limit is {MAX_REQUEST_BYTES:,}"
        )
    body = request.read(MAX_REQUEST_BYTES + 1)
    try:
        stream = stream_headers(request.headers)
        parsed = parse_body(
            body,
            content_type=request.content_type or "application/x-ndjson",
            content_encoding=request.headers.get("Content-Encoding"),
            run_id=request.headers.get("X-Charm-Run-Id"),
            **stream,
        )
    except BodyError as error:
        return _error(error.status, error.message)
    source = _SOURCES.get(request.content_type, "http")
    try:
        with transaction.atomic():
            batch_store(
                project=key.project,
                events=parsed.events,
                rejected=parsed.rejected,
                noted=parsed.noted,
                source=source,
            )
    except (OperationalError, InterfaceError, DatabaseError):
        logger.exception("ingest could not store a batch")
        return _error(503, "the store is unavailable", Retry_After=str(STORE_DOWN_RETRY_SECONDS))
    answer = {
        "accepted": len(parsed.events),
        "rejected": [{"index": r.index, "error": r.error} for r in parsed.rejected],
    }
    if parsed.noted:
        answer["noted"] = [{"index": r.index, "error": r.error} for r in parsed.noted]
    return JsonResponse(answer, status=202)


_SOURCES = {"text/plain": "stdout", "text/event-stream": "sse"}


def stream_headers(headers) -> dict:
    """What a Charm stream's sender says of it: X-Charm-Stream-Offset, X-Charm-Stream-End,
    X-Charm-Agent, X-Charm-Environment. Raises `BodyError` naming a bad header."""
    offset = (headers.get("X-Charm-Stream-Offset") or "0").strip()
    if not (offset.isascii() and offset.isdigit()) or int(offset) >= 2**62:
        raise BodyError(
            400, f"X-Charm-Stream-Offset: expected the line number (0 or more), got {offset!r}"
        )
    ended = (headers.get("X-Charm-Stream-End") or "false").strip().lower()
    if ended not in ("true", "false", "1", "0"):
        raise BodyError(400, f"X-Charm-Stream-End: expected true or false, got {ended!r}")
    agent = headers.get("X-Charm-Agent")
    if agent is not None and not 0 < len(agent.strip()) <= 200:
        raise BodyError(400, "X-Charm-Agent: expected an agent name of 1–200 characters")
    environment = headers.get("X-Charm-Environment")
    if environment is not None and environment not in ENVIRONMENTS:
        raise BodyError(
            400,
            f"X-Charm-Environment: expected one of {', '.join(ENVIRONMENTS)}, "
            f"got {environment[:50]!r}",
        )
    return {
        "stream_offset": int(offset),
        "stream_ended": ended in ("true", "1"),
        "agent": agent.strip() if agent else None,
        "environment": environment,
    }


@csrf_exempt  # authenticated by API key; other methods get a 405
@require_GET
def runs_list(request: HttpRequest) -> JsonResponse:
    key = _key_or_error(request, "read")
    if isinstance(key, JsonResponse):
        return key
    try:
        filters = RunFilters.from_params(request.GET)
        limit = _limit(request.GET.get("limit"))
        page = runs_page(key.project, filters, cursor=request.GET.get("cursor"), limit=limit)
    except FilterError as error:
        return _error(400, str(error))
    return JsonResponse(
        {"runs": [serializers.run_summary(r) for r in page.runs], "next_cursor": page.next_cursor}
    )


@csrf_exempt  # authenticated by API key; other methods get a 405
@require_GET
def run_detail(request: HttpRequest, run_id: str) -> JsonResponse:
    run = _run_or_error(request, run_id)
    if isinstance(run, JsonResponse):
        return run
    return JsonResponse(serializers.run_full(run))


@csrf_exempt  # authenticated by API key; other methods get a 405
@require_GET
def run_events(request: HttpRequest, run_id: str) -> JsonResponse:
    run = _run_or_error(request, run_id)
    if isinstance(run, JsonResponse):
        return _run_named_events(request, run_id) or run
    try:
        page = serializers.events_page(
            run,
            types=[t for t in request.GET.get("type", "").split(",") if t],
            cursor=request.GET.get("cursor"),
            limit=_limit(request.GET.get("limit"), default=500, maximum=5000),
        )
    except FilterError as error:
        return _error(400, str(error))
    return JsonResponse(page)


def _run_named_events(request: HttpRequest, run_id: str) -> JsonResponse | None:
    """`runs/x/events` is also the address of a run whose id is `x/events`: when no run
    `x` exists, that run's detail."""
    key = _key_or_error(request, "read")
    if isinstance(key, JsonResponse):
        return None
    run = run_get(key.project, f"{run_id}/events")
    return JsonResponse(serializers.run_full(run)) if run is not None else None


def _run_or_error(request: HttpRequest, run_id: str):
    """The key's project's run, or the JSON error to answer with."""
    key = _key_or_error(request, "read")
    if isinstance(key, JsonResponse):
        return key
    run = run_get(key.project, run_id)
    if run is None:
        return _error(404, f"no run {run_id!r} in this project")
    return run


def _limit(value: str | None, *, default: int = 50, maximum: int = 200) -> int:
    if not value:
        return default
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= maximum:
        raise FilterError(f"limit: expected a whole number from 1 to {maximum}; got {value!r}")
    return int(value)


VALIDATION_MAX_BYTES = 1024 * 1024


@csrf_exempt  # authenticated by API key, never by cookie
@require_POST
def validations(request: HttpRequest) -> JsonResponse:
    """Keep the output of one `charm validate` for an agent (the checklist shows it)."""
    key = _key_or_error(request, "ingest")
    if isinstance(key, JsonResponse):
        return key
    if request.content_type != "text/plain":
        return _error(
            415,
            f"unsupported Content-Type {request.content_type!r}; send text/plain: "
            "the output of `charm validate`",
        )
    agent = (request.headers.get("X-Charm-Agent") or "").strip()
    if not 0 < len(agent) <= 200:
        return _error(400, "X-Charm-Agent: expected the agent's name (1–200 characters)")
    version = (request.headers.get("X-Charm-Agent-Version") or "").strip()
    if len(version) > 100:
        return _error(400, "X-Charm-Agent-Version: expected at most 100 characters")
    body = request.read(VALIDATION_MAX_BYTES + 1)
    if len(body) > VALIDATION_MAX_BYTES:
        return _error(413, f"body is over {VALIDATION_MAX_BYTES:,} bytes")
    text = body.decode("utf-8", "replace").replace("\x00", "")
    if not text.strip():
        return _error(400, "body is empty: send the output of `charm validate`")
    read = validation_read(text)
    try:
        report = ValidationReport.objects.create(
            project=key.project,
            agent_name=agent,
            agent_version=version,
            passed=read.passed,
            error_count=read.errors,
            warning_count=read.warnings,
            lines=read.lines,
            raw=text,
        )
    except (OperationalError, InterfaceError, DatabaseError):
        logger.exception("could not store a validation report")
        return _error(503, "the store is unavailable", Retry_After=str(STORE_DOWN_RETRY_SECONDS))
    answer = {
        "id": report.pk,
        "agent": agent,
        "passed": read.passed,
        "errors": read.errors,
        "warnings": read.warnings,
        "lines": read.lines,
    }
    return JsonResponse(answer, status=201)
