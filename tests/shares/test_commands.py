"""`manage.py sharelink`: prints a working link as its last line; --revoke ends it;
--as acts with a member's rights, in their organization only."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from shares.models import ShareLink
from studio.models import AuditEntry
from tests.shares.conftest import RUN_ID


def sharelink(*args) -> list[str]:
    out = StringIO()
    call_command("sharelink", *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip().splitlines()


def test_the_link_is_the_last_line_and_opens_logged_out(secret_run, project, settings):
    settings.STUDIO_BASE_URL = "https://studio.example.com"

    url = sharelink(RUN_ID, "--project", project.slug, "--hours", "2")[-1]

    assert url.startswith("https://studio.example.com/share/")
    response = Client().get(url.removeprefix("https://studio.example.com"))
    assert response.status_code == 200 and RUN_ID in response.content.decode()
    link = ShareLink.objects.get()
    assert link.created_by is None
    entry = AuditEntry.objects.get()
    assert entry.action == "share_link.created" and entry.actor is None


def test_revoke_ends_the_link(secret_run, project):
    url = sharelink(RUN_ID, "--project", project.name)[-1]

    assert "Revoked" in sharelink("--revoke", url)[-1]
    assert Client().get(url.removeprefix("http://localhost:8000")).status_code == 410
    assert "already revoked" in sharelink("--revoke", url)[-1]
    assert [e.action for e in AuditEntry.objects.order_by("created_at")] == [
        "share_link.created",
        "share_link.revoked",
    ]


@pytest.mark.parametrize("hours", ["0", "169"])
def test_hours_outside_one_to_168_are_refused(secret_run, project, hours):
    with pytest.raises(CommandError, match="1 to 168 hours"):
        sharelink(RUN_ID, "--project", project.slug, "--hours", hours)
    assert not ShareLink.objects.exists()


def test_a_run_of_another_project_or_a_made_up_link_is_refused(secret_run, project, other_project):
    with pytest.raises(CommandError, match="no run"):
        sharelink(RUN_ID, "--project", other_project.slug)
    with pytest.raises(CommandError, match="no such share link"):
        sharelink("--revoke", "http://localhost:8000/share/made-up.token/")
    url = sharelink(RUN_ID, "--project", project.slug)[-1]
    with pytest.raises(CommandError, match="not of project"):
        sharelink("--revoke", url, "--project", other_project.slug)


def test_as_a_member_the_roles_rights_apply(secret_run, project, owner, make_member, outsider):
    developer, support = make_member("developer"), make_member("support")
    url = sharelink(RUN_ID, "--project", project.slug, "--as", support.username)[-1]
    assert ShareLink.objects.get().created_by == support

    with pytest.raises(CommandError, match="only the links they made"):
        sharelink("--revoke", url, "--as", developer.username)
    with pytest.raises(CommandError, match="not a member"):
        sharelink("--revoke", url, "--as", outsider.username)
    with pytest.raises(CommandError, match="not a member"):
        sharelink(RUN_ID, "--project", project.slug, "--as", outsider.username)
    assert "Revoked" in sharelink("--revoke", url, "--as", owner.username)[-1]
    assert ShareLink.objects.get().revoked_by == owner
