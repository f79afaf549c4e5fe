"""The run detail's live tail: Server-Sent Events over ASGI.

`GET /runs/<run_id>/live` answers `text/event-stream` while the run is not terminal:

- it subscribes to the project's Redis channel (`runs.live.project_channel`), where
  the worker publishes `{"runs": {run_id: status}}` after each applied batch;
- when a message names this run, it reads the run again and sends an `update` event:
  the header, the axis, and the timeline rows that started or ended at or after the
  position the browser last saw (the client replaces rows by key, so an overlap is
  harmless); every event's SSE `id:` is the new position (the run's last event time
  in epoch microseconds), so a reconnecting EventSource resumes with `Last-Event-ID`;
- every 15 s it sends a comment heartbeat and looks at the run once in the database,
  which also catches a missed publish (Redis pub/sub is best effort) or a run that
  became stalled;
- every look first checks the viewer again: signed out, deactivated, removed from the
  organization or moved to a role that may not view runs, the stream ends at once;
- when the run ends it sends an `end` event and closes; a stream also closes after
  `STREAM_SECONDS`, and the browser reconnects where it left off.

The first connection passes the page's position as `?after=`; EventSource sends
`Last-Event-ID` by itself on reconnects. Served by WSGI (runserver), which cannot
stream, it answers one `unavailable` event and the page polls instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import redis
import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.base import SessionBase
from django.core.handlers.asgi import ASGIRequest
from django.db import connection
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from runs.live import project_channel
from runs.selectors.detail import (
    LiveState,
    live_state,
    run_for_detail,
    run_for_live,
    run_position,
    run_timeline,
)
from runs.views.detail import header_context
from studio.models import Membership
from studio.redis import redis_url
from studio.tenancy import can

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0
STREAM_SECONDS = 300.0  # then close; EventSource reconnects with Last-Event-ID
RETRY_MS = 2000
TEMPLATE = "runs/run_detail.html"


@dataclass(frozen=True)
class _Viewer:
    project_id: int
    run_pk: int
    run_id: str
    organization_id: int
    user_id: int
    session: SessionBase
    sees_revenue: bool = False  # the header's revenue is for roles that see revenue


def _viewer(request: HttpRequest, run_id: str) -> _Viewer | HttpResponse:
    """The page's checks: signed in, a member who may view runs, a project, the run in it."""
    if not request.user.is_authenticated:
        return HttpResponse("Sign in to follow this run.", status=401, content_type="text/plain")
    if request.org is None or not can(request.role, "view_runs") or request.project is None:
        return HttpResponse("Not allowed.", status=403, content_type="text/plain")
    run = run_for_detail(project=request.project, run_id=run_id)
    if run is None:
        return HttpResponse("No such run.", status=404, content_type="text/plain")
    return _Viewer(
        project_id=request.project.id,
        run_pk=run.pk,
        run_id=run.run_id,
        organization_id=request.org.id,
        user_id=request.user.pk,
        session=request.session,
        sees_revenue=can(request.role, "view_revenue"),
    )


def _viewer_now(viewer: _Viewer) -> _Viewer | None:
    """The viewer as things stand now, or None once they may no longer see the run: a
    stream lasts minutes, and what the page checked when it opened may have changed."""
    session_key = viewer.session.session_key
    if not session_key or not viewer.session.exists(session_key):
        return None  # signed out (or the session ended) meanwhile
    role = (
        Membership.objects.filter(
            organization_id=viewer.organization_id,
            user_id=viewer.user_id,
            user__is_active=True,
        )
        .values_list("role", flat=True)
        .first()
    )
    if not can(role, "view_runs"):
        return None
    return replace(viewer, sees_revenue=can(role, "view_revenue"))


@require_GET
async def run_live(request: HttpRequest, run_id: str) -> HttpResponse:
    viewer = await sync_to_async(_viewer)(request, run_id)
    if isinstance(viewer, HttpResponse):
        return viewer
    if not isinstance(request, ASGIRequest):
        # Under WSGI (runserver, gunicorn sync workers) a stream would be read to its
        # end before anything is sent: tell the page to poll instead.
        return HttpResponse(
            f"retry: {RETRY_MS * 30}\nevent: unavailable\ndata: {{}}\n\n",
            content_type="text/event-stream; charset=utf-8",
        )
    since = parse_position(request.headers.get("Last-Event-ID") or request.GET.get("after"))
    response = StreamingHttpResponse(
        event_stream(viewer, since), content_type="text/event-stream; charset=utf-8"
    )
    response["Cache-Control"] = "no-cache, no-transform"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response


def parse_position(value: str | None) -> int:
    """A position the stream gave out (epoch microseconds); 0 (everything) otherwise."""
    try:
        return max(0, int((value or "0").strip()))
    except ValueError:
        return 0


async def event_stream(viewer: _Viewer, since: int) -> AsyncIterator[str]:
    """The SSE body: see the module docstring."""
    client = aioredis.Redis.from_url(
        redis_url(), socket_connect_timeout=2, health_check_interval=30
    )
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        try:
            await pubsub.subscribe(project_channel(viewer.project_id))
        except (redis.RedisError, OSError):
            logger.warning("live: Redis is unreachable; the page falls back to polling")
            yield f"retry: {RETRY_MS * 5}\nevent: unavailable\ndata: {{}}\n\n"
            return
        state = await sync_to_async(_look)(viewer)
        yield f"retry: {RETRY_MS}\n: subscribed\n\n"
        if state is None:
            return
        viewer, state = state
        if state.position > since or state.terminal:  # catch up on what was missed
            chunk, since = await sync_to_async(_update_event)(viewer, since, state)
            yield chunk
            if state.terminal:
                return
        seen = state
        started = last_look = last_sent = time.monotonic()
        while time.monotonic() - started < STREAM_SECONDS:
            named = await _next_mention(pubsub, viewer.run_id, timeout=1.0)
            now = time.monotonic()
            if not named and now - last_look < HEARTBEAT_SECONDS:
                continue
            last_look = now
            state = await sync_to_async(_look)(viewer)
            if state is None:
                return
            viewer, state = state
            if _changed(seen, state):
                chunk, since = await sync_to_async(_update_event)(viewer, since, state)
                yield chunk
                last_sent = now
                seen = state
                if state.terminal:
                    return
            if now - last_sent >= HEARTBEAT_SECONDS:
                yield ": heartbeat\n\n"
                last_sent = now
    finally:
        await _close(pubsub, client)


async def _next_mention(pubsub, run_id: str, *, timeout: float) -> bool:
    """Wait up to `timeout` for messages; True when one names the run. Messages that
    arrived meanwhile are drained, so a burst of batches makes one update."""
    named = False
    try:
        message = await pubsub.get_message(timeout=timeout)
        while message is not None:
            named = named or _mentions(message, run_id)
            message = await pubsub.get_message(timeout=0)
    except (redis.RedisError, OSError):
        await asyncio.sleep(timeout)  # the 15 s look still catches changes
    return named


def _mentions(message: dict, run_id: str) -> bool:
    try:
        runs = json.loads(message.get("data") or b"{}").get("runs") or {}
    except (ValueError, AttributeError):
        return False
    return run_id in runs


def _changed(seen: LiveState | None, state: LiveState) -> bool:
    if seen is None:
        return True
    return (state.position, state.status, state.stalled, state.terminal) != (
        seen.position,
        seen.status,
        seen.stalled,
        seen.terminal,
    )


async def _close(pubsub, client) -> None:
    try:
        await pubsub.aclose()
        await client.aclose()
    except (redis.RedisError, OSError, RuntimeError):
        pass


def _look(viewer: _Viewer) -> tuple[_Viewer, LiveState] | None:
    """The viewer and the run as they stand now; None ends the stream."""
    try:
        viewer = _viewer_now(viewer)
        if viewer is None:
            return None
        state = live_state(project_id=viewer.project_id, run_pk=viewer.run_pk)
        return None if state is None else (viewer, state)
    finally:
        _release_connection()


def _update_event(viewer: _Viewer, since: int, state: LiveState) -> tuple[str, int]:
    """The SSE event for what changed since `since`, and the new position."""
    try:
        run = run_for_live(project_id=viewer.project_id, run_pk=viewer.run_pk)
        if run is None:
            return "event: end\ndata: {}\n\n", since
        payload = live_payload(run, since, sees_revenue=viewer.sees_revenue)
    finally:
        _release_connection()
    event = "end" if run.status_terminal else "update"
    data = json.dumps(payload, separators=(",", ":"))
    return f"id: {payload['position']}\nevent: {event}\ndata: {data}\n\n", payload["position"]


def _release_connection() -> None:
    # A stream lives for minutes; do not hold a database connection while it waits.
    # (Inside a test's transaction the connection is the test's: keep it.)
    if not connection.in_atomic_block:
        connection.close()


def live_payload(run, since: int, *, sees_revenue: bool = False) -> dict:
    """What one live event carries: header, axis, and the rows that changed since `since`
    (epoch microseconds), each with the key of the row it follows."""
    timeline = run_timeline(run=run)
    waterfall = timeline.waterfall
    since_ms = since // 1000
    context = {"waterfall": waterfall, "timeline": timeline, "selected": None}
    rows = []
    previous = None
    for row in waterfall.rows:
        latest = max(row.start_ms, row.end_ms or 0)
        if row.open or latest >= since_ms:
            html = render_to_string(f"{TEMPLATE}#wf_row", {**context, "row": row})
            rows.append({"key": row.item, "after": previous, "html": html})
        previous = row.item
    perms = {"perms_for": {"view_revenue": sees_revenue}}  # no request here to derive it from
    header = render_to_string(f"{TEMPLATE}#header", {**header_context(run), **perms})
    return {
        "position": run_position(run),
        "status": run.status,
        "stalled": run.stalled,
        "terminal": run.status_terminal,
        "axis": {"start": waterfall.start_ms, "end": waterfall.end_ms},
        "ticks": render_to_string(f"{TEMPLATE}#ticks", context),
        "lane": render_to_string(f"{TEMPLATE}#log_lane", context),
        "header": header,
        "rows": rows,
        "total": waterfall.total,
        "log_count": timeline.log_count,
    }
