"""Crash kinds that repeat across runs, with realistic tracebacks, and transient tool errors."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from runs.demo.steps import LogLine

# ---------------------------------------------------------------------------
# Crashes: kinds that repeat across runs, with realistic tracebacks
# ---------------------------------------------------------------------------

# Traceback text uses {lib} for the Python library folder and {site} for its
# site-packages, filled in with the run's Python version.
_RUNNER_FRAMES = """\
  File "{site}/charm/runtime/runner.py", line 214, in run
    result = await agent.ainvoke(inputs, callbacks=self.callbacks)
  File "{site}/charm/agent.py", line 131, in ainvoke
    return await self._loop(inputs)
  File "{site}/charm/agent.py", line 188, in _loop
    observation = await self._run_step(action)"""
_HTTPX_FRAMES = """\
  File "{site}/charm/http.py", line 81, in request
    return await self._client.request(method, url, **kwargs)
  File "{site}/httpx/_client.py", line 1585, in request
    return await self.send(request, auth=auth, follow_redirects=follow_redirects)
  File "{site}/httpx/_transports/default.py", line 118, in map_httpcore_exceptions
    raise mapped_exc(message) from exc
httpx.ReadTimeout: timed out"""
_HTTP_RAISE = """\
  File "{site}/charm/http.py", line 88, in request
    raise TimeoutError(f"HTTP {method} {url} timed out after {timeout} s") from exc"""
_CHAINED = "\n\nThe above exception was the direct cause of the following exception:\n\n"


@dataclass(frozen=True)
class _Crash:
    """A way an agent crashes: where (a tool or an LLM purpose), with what error.

    ``message`` is a template filled per occurrence (see ``_crash_values``), so the same
    crash repeats with other ids and numbers. ``frames`` are the traceback lines
    below the runner's own frames; ``cause``, when set, is a whole chained exception
    printed before it.
    """

    at: str
    error_type: str
    message: str
    frames: str
    cause: str = ""
    delay_ms: tuple[int, int] = (5, 60)
    warning: LogLine | None = None  # logged as the run starts
    retries: int = 0  # "attempt i of n timed out" warnings before the crash

    def render(
        self, rng: random.Random, inputs: dict[str, Any], step_input: Any, python: str
    ) -> tuple[str, str]:
        """The message and the traceback of one occurrence, on Python ``python``."""
        message = self.message.format(**_crash_values(rng, inputs, step_input))
        traceback = f"Traceback (most recent call last):\n{_RUNNER_FRAMES}\n{self.frames}"
        if self.cause:
            traceback = self.cause + _CHAINED + traceback
        traceback += f"\n{self.error_type}: {message}"
        lib = f"/usr/local/lib/python{python}"
        return message, traceback.replace("{site}", f"{lib}/site-packages").replace("{lib}", lib)


def _crash_values(rng: random.Random, inputs: dict[str, Any], step_input: Any) -> dict[str, Any]:
    """What crash messages can mention: the run's inputs, the failing tool's input, and
    fresh ids and numbers."""
    values = {
        "ticket_id": inputs.get("ticket_id", 0),
        "request": rng.randint(1_000_000, 9_999_999),
        "realm": rng.randint(10**15, 10**16 - 1),
        "page": rng.randint(100_000, 999_999),
    }
    if isinstance(step_input, dict):
        values.update(step_input)
    return values


def _missing_env(at: str, name: str, frame: str) -> _Crash:
    return _Crash(
        at=at,
        error_type="KeyError",
        message=f"'{name}'",
        frames=f'{frame}\n  File "<frozen os>", line 714, in __getitem__',
        warning=LogLine(
            "warning",
            f"{name} is listed in required_env but is not set in this environment",
            "charm.runtime.env",
        ),
    )


def _oauth_not_connected(at: str, connection: str, frame: str) -> _Crash:
    return _Crash(
        at=at,
        error_type="charm.errors.OAuthConnectionError",
        message=f"OAuth connection '{connection}' is not connected (request {{request}})",
        frames=frame
        + '\n  File "{site}/charm/oauth.py", line 142, in get_token'
        + "\n    raise OAuthConnectionError(name, request_id=request_id)",
        warning=LogLine(
            "warning",
            f"OAuth connection '{connection}' has no valid token; tools that use it will fail",
            "charm.oauth",
        ),
    )


def _http_timeout(at: str, message: str, frame: str, seconds: int, retries: int = 0) -> _Crash:
    return _Crash(
        at=at,
        error_type="TimeoutError",
        message=message,
        frames=f"{frame}\n{_HTTP_RAISE}",
        cause=f"Traceback (most recent call last):\n{_HTTPX_FRAMES}",
        delay_ms=(seconds * 1000, seconds * 1000 + 400),
        retries=retries,
    )


_STRIPE_KEY_MISSING = _missing_env(
    "stripe.create_charge",
    "STRIPE_API_KEY",
    '  File "/app/invoice_bot/billing.py", line 42, in charge_processing_fee\n'
    '    client = stripe.StripeClient(os.environ["STRIPE_API_KEY"])',
)
_QUICKBOOKS_TIMEOUT = _http_timeout(
    "quickbooks.list_invoices",
    "HTTP GET https://quickbooks.api.intuit.com/v3/company/{realm}/query timed out after 30.0 s",
    '  File "/app/invoice_bot/tools/quickbooks.py", line 67, in list_invoices\n'
    '    resp = await self.http.get(url, params={"query": query}, timeout=30.0)',
    seconds=30,
)
_CLASSIFIER_JSON = _Crash(
    at="classify",
    error_type="ValueError",
    message="classifier output for ticket #{ticket_id} is not valid JSON: "
    "Expecting value: line 1 column 1 (char 0)",
    frames="""\
  File "/app/support_triage/classifier.py", line 58, in classify
    raise ValueError(f"classifier output for ticket #{ticket.id} is not valid JSON: {exc}")""",
    cause="""\
Traceback (most recent call last):
  File "/app/support_triage/classifier.py", line 55, in classify
    data = json.loads(text)
  File "{lib}/json/__init__.py", line 346, in loads
    return _default_decoder.decode(s)
  File "{lib}/json/decoder.py", line 338, in decode
    obj, end = self.raw_decode(s, idx=_w(s, 0).end())
  File "{lib}/json/decoder.py", line 356, in raw_decode
    raise JSONDecodeError("Expecting value", s, err.value) from None
json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)""",
)
_ZENDESK_TOKEN_MISSING = _missing_env(
    "zendesk.get_ticket",
    "ZENDESK_API_TOKEN",
    '  File "/app/support_triage/tools/zendesk.py", line 19, in client\n'
    '    token = os.environ["ZENDESK_API_TOKEN"]',
)
_GOOGLE_DRIVE_NOT_CONNECTED = _oauth_not_connected(
    "google_drive.create_doc",
    "google-drive",
    '  File "/app/research_assistant/publish.py", line 23, in publish_report\n'
    "    doc = await drive.create_document(title, body, folder=folder)",
)
_FETCH_TIMEOUT = _http_timeout(
    "fetch_url",
    "HTTP GET https://fetch.charm.dev/v1/pages/{page} timed out after 20.0 s",
    '  File "/app/research_assistant/tools/fetch.py", line 31, in fetch_url\n'
    "    page = await self.http.get(endpoint, timeout=20.0)",
    seconds=20,
    retries=2,
)
_HUBSPOT_TIMEOUT = _http_timeout(
    "hubspot.batch_upsert",
    "HTTP POST https://api.hubapi.com/crm/v3/objects/{object}/batch/upsert timed out "
    "after 30.0 s (batch {batch})",
    '  File "/app/data_sync/sinks/hubspot.py", line 112, in upsert_batch\n'
    "    resp = await self.http.post(url, json=payload, timeout=30.0)",
    seconds=30,
)
_POSTGRES_UNREACHABLE = _Crash(
    at="postgres.query",
    error_type="psycopg.OperationalError",
    message='connection failed: connection to server at "10.0.3.17", port 5432 failed: '
    "timeout expired",
    frames="""\
  File "/app/data_sync/sources/postgres.py", line 40, in fetch_changed
    async with await psycopg.AsyncConnection.connect(self.dsn) as conn:
  File "{site}/psycopg/connection_async.py", line 134, in connect
    raise last_ex.with_traceback(None)""",
    delay_ms=(10_000, 10_300),
)
_SYNC_OUT_OF_MEMORY = _Crash(
    at="postgres.query",
    error_type="MemoryError",
    message="Execution Failed (Code 137). the container was killed while loading {request} rows",
    frames="""\
  File "/app/data_sync/sources/postgres.py", line 58, in fetch_changed
    rows = await cur.fetchall()""",
    delay_ms=(4_000, 9_000),
)
_GMAIL_NOT_CONNECTED = _oauth_not_connected(
    "gmail.send",
    "gmail",
    '  File "/app/sales_outreach/tools/gmail.py", line 27, in send\n'
    '    creds = await oauth.get_token("gmail")',
)
_ENRICH_TIMEOUT = _http_timeout(
    "enrich_company",
    "HTTP GET https://api.enrichly.io/v2/companies/{page} timed out after 20.0 s",
    '  File "/app/sales_outreach/tools/enrich.py", line 52, in enrich_company\n'
    "    resp = await self.http.get(url, timeout=20.0)",
    seconds=20,
)

# (agent, crash, weight): how often each kind strikes across the fleet. A few kinds
# make most crashes, so the Errors page has large groups and a long tail.
_CRASHES: tuple[tuple[str, _Crash, int], ...] = (
    ("invoice-bot", _STRIPE_KEY_MISSING, 10),
    ("research-assistant", _GOOGLE_DRIVE_NOT_CONNECTED, 6),
    ("support-triage", _CLASSIFIER_JSON, 6),
    ("data-sync", _HUBSPOT_TIMEOUT, 4),
    ("sales-outreach", _GMAIL_NOT_CONNECTED, 3),
    ("research-assistant", _FETCH_TIMEOUT, 3),
    ("invoice-bot", _QUICKBOOKS_TIMEOUT, 2),
    ("sales-outreach", _ENRICH_TIMEOUT, 2),
    ("data-sync", _POSTGRES_UNREACHABLE, 2),
    ("data-sync", _SYNC_OUT_OF_MEMORY, 1),
    ("support-triage", _ZENDESK_TOKEN_MISSING, 1),
)

# Tool errors an agent retries and recovers from.
_TRANSIENT_ERRORS = (
    ("RateLimitError", "429 Too Many Requests: rate limit exceeded, retry after {n} s"),
    ("ConnectionResetError", "[Errno 104] Connection reset by peer"),
    ("httpx.RemoteProtocolError", "Server disconnected without sending a response."),
    ("httpx.HTTPStatusError", "Server error '503 Service Unavailable' (attempt {n})"),
)
