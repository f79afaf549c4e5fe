"""`addalert` and `evaluatealerts` from the command line, end to end."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from alerts.models import Incident, Rule
from tests.runs.test_views_run_list import make_runs


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_addalert_then_evaluatealerts_notifies_the_webhook_and_the_mailbox(
    project, webhook_receiver, smtp_inbox
):
    out, err = run(
        "addalert", "--project", project.slug, "--kind", "stalled", "--threshold", "1",
        "--window-minutes", "10", "--webhook", webhook_receiver.url,
        "--email", "oncall@example.com",
    )  # fmt: skip
    assert out.startswith("Added rule")
    rule = Rule.objects.get()
    assert rule.channels.count() == 2
    assert "signing secret" in err
    make_runs(project, {"run_id": "hung", "status": "running", "started": 1800})

    out, _ = run("evaluatealerts")

    assert "1 incident(s) opened" in out and "2 notification(s) sent" in out
    assert Incident.objects.get().link == "/runs/hung/"
    assert webhook_receiver.bodies()[0]["link"] == "http://localhost:8000/runs/hung/"
    assert "/runs/hung/" in smtp_inbox[0].get_payload(decode=True).decode()
    out, _ = run("evaluatealerts")
    assert "0 incident(s) opened" in out and len(webhook_receiver.requests) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "failure_rate", "--threshold", "x"], "threshold: a number"),
        (["--kind", "stalled", "--threshold", "1", "--email", "nope"], "not an email"),
        (["--kind", "stalled", "--threshold", "1", "--webhook", "ftp://x"], "http:// or https://"),
    ],
)
def test_addalert_refuses_bad_values_and_adds_nothing(project, args, message):
    with pytest.raises(CommandError, match=message):
        run("addalert", "--project", project.slug, *args)

    assert not Rule.objects.exists()
