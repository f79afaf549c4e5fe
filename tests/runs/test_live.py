"""The live tail: an async view streaming Server-Sent Events from Redis pub/sub.

The tests drive the ASGI path with Django's AsyncClient inside `async_to_sync`, so the
view's `sync_to_async` database calls run on the test's thread, in its transaction;
the worker's publish is a real Redis publish through `runs.live.publish`.
"""

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import AsyncClient

from runs import live
from runs.models import Run
from runs.selectors.detail import run_position
from runs.views import live as live_views
from studio.redis import redis_url
from tests.conftest import apply_now, ev


def events_in(text: str) -> list[dict]:
    """Parse an SSE body into its events: {"event", "id", "data"} (comments dropped)."""
    parsed = []
    for block in text.split("\n\n"):
        fields: dict = {}
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            if name in ("event", "id", "data"):
                fields[name] = value
        if "event" in fields:
            fields["data"] = json.loads(fields.get("data") or "{}")
            parsed.append(fields)
    return parsed


async def next_chunk(stream, timeout: float = 5.0) -> str:
    return (await asyncio.wait_for(anext(stream), timeout)).decode()


async def open_stream(user, url: str, **headers):
    client = AsyncClient()
    await client.aforce_login(user)
    response = await client.get(url, headers=headers)
    return response


def event_id(project, type_: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_id FROM runs_event WHERE project_id = %s AND type = %s",
            [project.id, type_],
        )
        return cursor.fetchone()[0]


def position_of(project, run_id: str) -> int:
    return run_position(Run.objects.get(project=project, run_id=run_id))


def test_the_stream_sends_a_new_row_after_a_batch_for_the_run_is_applied(owner, project):
    apply_now(project, [ev("run_start", "run_live", at=0, seq=0)])
    seen = position_of(project, "run_live")

    async def scenario():
        response = await open_stream(owner, f"/runs/run_live/live?after={seen}")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/event-stream")
        assert response["Cache-Control"].startswith("no-cache")
        stream = response.streaming_content
        assert "retry:" in await next_chunk(stream)  # subscribed; nothing new yet
        batch = [
            ev("tool_start", "run_live", at=1, seq=1, tool_name="search", input_str="q",
               span_id="t1"),
        ]  # fmt: skip
        await sync_to_async(apply_now)(project, batch)
        await sync_to_async(live.publish)(project.id, {"run_live": "running"})
        chunk = await next_chunk(stream, timeout=5)  # well before the 15 s look
        await stream.aclose()
        return chunk

    [update] = events_in(async_to_sync(scenario)())
    assert update["event"] == "update"
    assert int(update["id"]) == position_of(project, "run_live") > seen
    rows = {row["key"]: row for row in update["data"]["rows"]}
    # Rows at or after the last position: the new tool call, and the run_start that
    # sat exactly on the old position (the page replaces rows by key, so it is harmless).
    assert set(rows) == {"tool:t1", f"status:{event_id(project, 'run_start')}"}
    assert rows["tool:t1"]["after"] == f"status:{event_id(project, 'run_start')}"
    assert 'data-key="tool:t1"' in rows["tool:t1"]["html"]
    assert "badge--running" in update["data"]["header"]
    assert update["data"]["terminal"] is False


def test_messages_for_other_runs_send_nothing(owner, project):
    apply_now(project, [ev("run_start", "run_a", at=0), ev("run_start", "run_b", at=0)])
    seen = position_of(project, "run_a")

    async def scenario():
        response = await open_stream(owner, f"/runs/run_a/live?after={seen}")
        stream = response.streaming_content
        await next_chunk(stream)
        await sync_to_async(apply_now)(project, [ev("log", "run_b", at=1, message="b")])
        await sync_to_async(live.publish)(project.id, {"run_b": "running"})
        with pytest.raises(TimeoutError):
            await next_chunk(stream, timeout=2.5)
        await stream.aclose()

    async_to_sync(scenario)()


def test_a_reconnect_resumes_from_last_event_id(owner, project):
    apply_now(project, [
        ev("run_start", "run_r", at=0, seq=0),
        ev("tool_start", "run_r", at=1, seq=1, tool_name="a", span_id="t1"),
        ev("tool_end", "run_r", at=1.5, seq=2, tool_name="a", span_id="t1"),
    ])  # fmt: skip
    last_seen = position_of(project, "run_r")
    apply_now(project, [
        ev("tool_start", "run_r", at=2, seq=3, tool_name="b", span_id="t2"),
        ev("tool_end", "run_r", at=2.5, seq=4, tool_name="b", span_id="t2"),
    ])  # fmt: skip

    async def scenario():
        # The header wins over ?after=, as it does for a reconnecting EventSource.
        response = await open_stream(
            owner, "/runs/run_r/live?after=0", **{"Last-Event-ID": str(last_seen)}
        )
        stream = response.streaming_content
        text = await next_chunk(stream) + await next_chunk(stream)
        await stream.aclose()
        return text

    [update] = events_in(async_to_sync(scenario)())
    keys = [row["key"] for row in update["data"]["rows"]]
    assert "tool:t2" in keys
    assert not any(key.startswith("status:") for key in keys)  # run_start was seen
    assert int(update["id"]) == position_of(project, "run_r")


def test_a_finished_run_gets_a_final_event_and_the_stream_closes(owner, project):
    apply_now(project, [ev("run_start", "run_done", at=0), ev("run_end", "run_done", at=1)])

    async def scenario():
        response = await open_stream(owner, "/runs/run_done/live?after=0")
        return [chunk.decode() async for chunk in response.streaming_content]

    chunks = async_to_sync(scenario)()
    [final] = events_in("".join(chunks))
    assert final["event"] == "end"
    assert final["data"]["terminal"] is True and final["data"]["status"] == "succeeded"


def test_the_stream_sends_a_heartbeat_comment_when_quiet(owner, project, monkeypatch):
    monkeypatch.setattr(live_views, "HEARTBEAT_SECONDS", 0.2)
    apply_now(project, [ev("run_start", "run_hb", at=0)])
    seen = position_of(project, "run_hb")

    async def scenario():
        response = await open_stream(owner, f"/runs/run_hb/live?after={seen}")
        stream = response.streaming_content
        await next_chunk(stream)
        chunk = await next_chunk(stream, timeout=5)
        await stream.aclose()
        return chunk

    assert async_to_sync(scenario)() == ": heartbeat\n\n"


def test_the_stream_checks_access_like_the_page(project, outsider, other_project, owner):
    apply_now(project, [ev("run_start", "run_1", at=0)])

    async def statuses():
        anonymous = await AsyncClient().get("/runs/run_1/live")
        foreign = await open_stream(outsider, "/runs/run_1/live")
        unknown = await open_stream(owner, "/runs/run_unknown/live")
        return anonymous.status_code, foreign.status_code, unknown.status_code

    assert async_to_sync(statuses)() == (401, 404, 404)


@pytest.mark.parametrize("role,shown", [("finance", True), ("owner", True), ("developer", False)])
def test_the_live_header_shows_revenue_only_to_roles_that_see_it(make_member, project, role,
                                                                 shown):  # fmt: skip
    apply_now(project, [
        ev("run_start", "run_paid", at=0),
        ev("revenue", "run_paid", at=0.5, kind="charge", amount="4321.09", currency="EUR"),
        ev("run_end", "run_paid", at=1),
    ])  # fmt: skip
    member = make_member(role)

    async def scenario():
        response = await open_stream(member, "/runs/run_paid/live?after=0")
        return [chunk.decode() async for chunk in response.streaming_content]

    [final] = events_in("".join(async_to_sync(scenario)()))
    assert ("4,321.09" in final["data"]["header"]) is shown


def test_redis_socket_urls_become_unix_urls():
    assert redis_url("redis+socket:///var/run/redis.sock") == ("unix:///var/run/redis.sock")
    assert redis_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_positions_that_are_not_numbers_start_from_the_beginning():
    assert live_views.parse_position("1795165206500000") == 1795165206500000
    assert live_views.parse_position("garbage") == 0
    assert live_views.parse_position(None) == 0


def test_under_wsgi_the_stream_tells_the_page_to_poll(owner_client, project):
    apply_now(project, [ev("run_start", "run_1", at=0)])
    response = owner_client.get("/runs/run_1/live")
    assert response.status_code == 200
    assert [e["event"] for e in events_in(response.content.decode())] == ["unavailable"]


async def rest_of(stream, timeout: float = 5.0) -> str:
    """What the stream sends until it closes (fails if it stays open past `timeout`)."""

    async def read() -> str:
        return "".join([chunk.decode() async for chunk in stream])

    return await asyncio.wait_for(read(), timeout)


def remove_from_org(user):
    user.memberships.all().delete()


def deactivate(user):
    user.is_active = False
    user.save(update_fields=["is_active"])


def sign_out(user):
    from django.contrib.sessions.models import Session

    for session in Session.objects.all():
        if session.get_decoded().get("_auth_user_id") == str(user.pk):
            session.delete()


@pytest.mark.parametrize("revoke", [remove_from_org, deactivate, sign_out])
def test_an_open_stream_ends_once_its_viewer_loses_access(make_member, project, revoke,
                                                          monkeypatch):  # fmt: skip
    """A stream lasts minutes: the viewer is checked again at every look, so someone
    removed from the organization (or signed out) is sent nothing more."""
    monkeypatch.setattr(live_views, "HEARTBEAT_SECONDS", 0.2)
    apply_now(project, [ev("run_start", "run_watched", at=0, seq=0)])
    seen = position_of(project, "run_watched")
    member = make_member("support")

    async def scenario():
        response = await open_stream(member, f"/runs/run_watched/live?after={seen}")
        stream = response.streaming_content
        assert "retry:" in await next_chunk(stream)
        await sync_to_async(revoke)(member)
        batch = [ev("log", "run_watched", at=1, seq=1, message="secret-after-removal")]
        await sync_to_async(apply_now)(project, batch)
        await sync_to_async(live.publish)(project.id, {"run_watched": "running"})
        return await rest_of(stream)

    assert "secret-after-removal" not in async_to_sync(scenario)()


def test_a_viewer_who_loses_the_revenue_role_mid_stream_stops_seeing_revenue(make_member,
                                                                             project):  # fmt: skip
    apply_now(project, [
        ev("run_start", "run_rev", at=0, seq=0),
        ev("revenue", "run_rev", at=0.5, seq=1, kind="charge", amount="4321.09", currency="EUR"),
    ])  # fmt: skip
    seen = position_of(project, "run_rev")
    member = make_member("finance")

    async def scenario():
        response = await open_stream(member, f"/runs/run_rev/live?after={seen}")
        stream = response.streaming_content
        await next_chunk(stream)
        await sync_to_async(lambda: member.memberships.update(role="developer"))()
        await sync_to_async(apply_now)(project, [ev("run_end", "run_rev", at=1, seq=2)])
        await sync_to_async(live.publish)(project.id, {"run_rev": "succeeded"})
        return await rest_of(stream)

    [final] = events_in(async_to_sync(scenario)())
    assert final["event"] == "end"
    assert "4,321.09" not in final["data"]["header"]
