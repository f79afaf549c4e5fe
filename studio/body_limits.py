"""Request bodies at the ASGI edge: one too large or too slow is refused before Django.

Django's ASGI handler reads a whole body (into memory, then a temporary file) before
any view runs, and uvicorn has no timeout for a body: a client that streams more than
the limit, or trickles bytes, would hold a connection, memory and disk as long as it
likes. Here a body is read first, up to `max_bytes` and within `timeout` seconds; past
either the answer is a JSON 413 or 408 and the connection is closed.
"""

import asyncio
import json


class BodyLimits:
    def __init__(self, app, *, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _refuse(
                send, 413, f"request is {declared:,} bytes; the limit is {self.max_bytes:,}"
            )
            return
        try:
            async with asyncio.timeout(self.timeout):
                body, disconnected = await _read_body(receive, self.max_bytes)
        except TimeoutError:
            message = f"the request body did not arrive within {self.timeout:g} seconds"
            await _refuse(send, 408, message)
            return
        if disconnected:
            return  # the client is gone: nobody to answer
        if body is None:
            await _refuse(send, 413, f"request is over {self.max_bytes:,} bytes")
            return
        await self.app(scope, _replay(body, receive), send)


async def _read_body(receive, max_bytes: int) -> tuple[bytes | None, bool]:
    """The whole body (None past `max_bytes`), and whether the client disconnected."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None, True
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            return None, False
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _replay(body: bytes, receive):
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: the disconnect, when it comes

    return replay


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


async def _refuse(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
