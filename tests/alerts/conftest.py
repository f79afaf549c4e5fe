"""Real receivers for alert notifications: an SMTP server (aiosmtpd) and an HTTP
server, both in this test process on free local ports."""

import json
import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from alerts.models import Rule
from alerts.services import channel_get_or_create, rule_create


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        message = message_from_bytes(envelope.original_content)
        message["X-Rcpt-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"


@pytest.fixture
def smtp_inbox(settings):
    """A real SMTP server; Django's mail settings point at it. Yields its inbox."""
    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    yield inbox.messages
    controller.stop()


def _free_port() -> int:
    # The controller checks its server by connecting, so it needs a real port up front.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Receiver:
    """What the HTTP receiver got, and the status codes it answers with, in turn
    (the last one repeats)."""

    url: str
    answers: list[int] = field(default_factory=lambda: [200])
    requests: list[dict] = field(default_factory=list)

    def bodies(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]


@pytest.fixture
def webhook_receiver():
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.requests.append({"headers": dict(self.headers), "body": body})
            answers = receiver.answers
            code = answers[min(len(receiver.requests), len(answers)) - 1]
            self.send_response(code)
            self.send_header("Location", "/elsewhere")  # read only on a 3xx answer
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/charm"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def add_rule(project):
    """Make a rule of the project with the given channels (webhook URLs, emails)."""

    def add(kind: str, *, webhooks=(), emails=(), **fields) -> Rule:
        channels = [
            channel_get_or_create(project=project, type_="webhook", target=url)[0]
            for url in webhooks
        ] + [channel_get_or_create(project=project, type_="email", target=e)[0] for e in emails]
        rule = rule_create(project=project, kind=kind, channels=channels, **fields)
        # Born before the test's data, as a rule made last week would be.
        Rule.objects.filter(pk=rule.pk).update(created_at="2000-01-01T00:00:00Z")
        rule.refresh_from_db()
        return rule

    return add
