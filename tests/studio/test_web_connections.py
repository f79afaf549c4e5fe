"""The web server (uvicorn, ASGI) keeps its PostgreSQL connections in a pool.

Under ASGI each request runs in a thread of its own, where Django's persistent
connections are never used again: without the pool every request opened a connection
(about 4 ms of server CPU) and left it to be closed whenever it was collected.
"""

import urllib.request

from tests.conftest import other_backends
from tests.runs.test_browser_run_detail import asgi_server  # noqa: F401 — a fixture


def _get(url: str) -> None:
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 — our own server
        assert answer.status == 200


def test_requests_one_after_another_share_one_pooled_connection(asgi_server):  # noqa: F811
    for _ in range(3):  # the pool opens
        _get(f"{asgi_server}/healthz")
    backends = other_backends()

    for _ in range(10):
        _get(f"{asgi_server}/healthz")
        _get(f"{asgi_server}/login/")

    assert backends and other_backends() <= backends  # no connection opened since
