"""A key revoked in Settings stops working on the very next API call, in every server
process: here a real uvicorn serving the API, with the calls sent on one kept-alive
connection, while the owner revokes the key from this process."""

import http.client
import json
from urllib.parse import urlsplit

from studio.apikeys import apikey_create
from tests.conftest import ev, login
from tests.runs.test_browser_run_detail import asgi_server  # noqa: F401 - a fixture


def _call(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    raw_key: str,
    body: bytes = b"",
    content_type: str = "application/json",
) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {raw_key}", "Content-Type": content_type}
    if path == "/api/v1/validations":
        headers["X-Charm-Agent"] = "invoice-bot"
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, response.read().decode()


CALLS = [
    ("GET", "/api/v1/runs", b"", "application/json"),
    ("POST", "/api/v1/ingest", json.dumps(ev("run_start", "rev-1")).encode(), "application/json"),
    ("POST", "/api/v1/otlp/v1/traces", b'{"resourceSpans": []}', "application/json"),
    ("POST", "/api/v1/validations", "✓ all checks passed\n".encode(), "text/plain"),
]


def test_a_key_revoked_in_settings_is_refused_on_the_next_call(
    asgi_server,  # noqa: F811 - the fixture imported above
    project,
    owner,
):
    key, raw_key = apikey_create(project=project, scopes=["ingest", "read"])
    address = urlsplit(asgi_server)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        for method, path, body, content_type in CALLS:
            status, text = _call(connection, method, path, raw_key, body, content_type)
            assert status in (200, 201, 202), f"{path}: {text}"

        revoked = login(owner).post(f"/settings/keys/{key.id}/revoke/")
        assert revoked.status_code == 302

        after = [_call(connection, *call[:2], raw_key, *call[2:]) for call in CALLS]
    finally:
        connection.close()
    for (_, path, *_), (status, text) in zip(CALLS, after, strict=True):
        assert status == 401, f"{path}: {status} {text}"
        answer = json.dumps(json.loads(text), ensure_ascii=False)  # OTLP's Status or {"error"}
        assert f"API key {key.prefix}… was revoked" in answer, path
