"""Share links through Django's client: making one from a run page, the shared page
logged out (redacted, private, no cookies, no links out), revoking and expiry."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from runs.models import Run
from shares.models import ShareLink
from shares.services import share_path, sharelink_create
from studio.models import AuditEntry
from tests.conftest import apply_now, ev, login
from tests.shares.conftest import RUN_ID, SECRETS

ORG_PATHS = ("/runs/", "/errors/", "/settings/", "/usage/", "/revenue/", "/api/", "/admin/")


def create(client: Client, run_id: str = RUN_ID, hours: int = 24, **headers):
    return client.post(f"/runs/{run_id}/share/", {"hours": hours}, headers=headers)


def link_from(response) -> str:
    match = re.search(r'data-copy="(http://testserver/share/[^"]+)"', response.content.decode())
    assert match, response.content.decode()[:2000]
    return match.group(1).removeprefix("http://testserver")


@pytest.fixture
def shared(secret_run, owner) -> str:
    response = create(login(owner))
    assert response.status_code == 200
    return link_from(response)


def everything_shown(path: str) -> str:
    """The shared page and every part it can load: each timeline item's pane, the
    logs tab at every level, the checklist (inline)."""
    client = Client()
    page = client.get(path).content.decode()
    bodies = [page, client.get(path, {"tab": "logs"}).content.decode()]
    for item in set(re.findall(r'hx-get="\?item=([^"]+)"', page)):
        pane = client.get(
            path, {"item": item.replace("%3A", ":")}, headers={"HX-Request": "true",
                                                                "HX-Target": "detail-pane"}
        )  # fmt: skip
        assert pane.status_code == 200
        bodies.append(pane.content.decode())
    return "\n".join(bodies)


def test_any_member_with_run_access_makes_a_link_and_it_is_shown_once(secret_run, make_member):
    viewer = make_member("viewer")

    response = create(login(viewer), hours=72, HX_Request="true")

    assert response.status_code == 200
    path = link_from(response)
    token = path.removeprefix("/share/").rstrip("/")
    assert len(token) > 60
    link = ShareLink.objects.get()
    assert link.created_by == viewer and token not in link.token_hash
    assert timedelta(hours=71, minutes=59) < link.expires_at - timezone.now() <= timedelta(hours=72)
    assert response["Cache-Control"] == "no-store"


def test_a_link_lasts_one_hour_to_seven_days(secret_run, owner):
    client = login(owner)

    assert create(client, hours=0).status_code == 400
    assert create(client, hours=169).status_code == 400
    assert create(client, hours="soon").status_code == 400
    assert create(client, hours=168).status_code == 200
    assert create(client, hours=1).status_code == 200
    assert ShareLink.objects.count() == 2


def test_only_runs_of_the_members_own_project_can_be_shared(secret_run, outsider, owner):
    assert create(login(outsider)).status_code == 404
    assert create(Client()).status_code == 302  # to the login page
    assert create(login(owner), run_id="no-such-run").status_code == 404
    assert not ShareLink.objects.exists()


def test_the_run_page_offers_share_to_every_role(secret_run, make_member):
    for role in ("viewer", "support", "finance", "developer", "owner"):
        page = login(make_member(role)).get(f"/runs/{RUN_ID}/").content.decode()
        assert f'action="/runs/{RUN_ID}/share/"' in page, role


def test_the_shared_page_opens_logged_out_and_shows_the_run(shared):
    response = Client().get(shared)

    assert response.status_code == 200
    page = response.content.decode()
    assert RUN_ID in page
    assert 'id="timeline"' in page and "KeyError" in page
    assert 'id="debug-checklist"' in page and "Debug checklist" in page
    assert "search" in page and "github" in page  # tool calls on the timeline
    assert ShareLink.objects.get().view_count == 1


def test_the_shared_page_shows_no_secret_anywhere(shared):
    shown = everything_shown(shared)

    for secret in SECRETS:
        assert secret not in shown, secret
    assert shown.count("[redacted]") >= len(SECRETS)
    # Names are not secrets: the checklist still says what the run declared.
    assert "STRIPE_API_KEY" in shown and "DB_PASSWORD" in shown


def test_the_shared_page_is_private_sets_no_cookie_and_links_nowhere_else(shared, owner):
    for client in (Client(), login(owner)):  # logged out, and a member with a session
        response = client.get(shared)
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers
        assert not response.cookies
        assert response["X-Robots-Tag"].startswith("noindex")
        assert response["Referrer-Policy"] == "no-referrer"
        page = response.content.decode()
        assert '<meta name="robots" content="noindex' in page
        assert "csrfmiddlewaretoken" not in page and "X-CSRFToken" not in page
        hrefs = re.findall(r'(?:href|hx-get|action|src)="([^"]*)"', page)
        assert hrefs
        for href in hrefs:
            assert not href.startswith(ORG_PATHS), href
            assert not href.startswith(("http:", "https:", "//")), href
        for label in ("Compare with", "Sign out", "Cost", "Revenue", "Error group"):
            assert label not in page


def test_log_search_is_off_on_the_shared_page(shared):
    def log_lines(params: dict) -> int:
        page = Client().get(shared, params).content.decode()
        assert 'name="q"' not in page and "<mark>" not in page
        return page.split('id="logs"')[1].count('class="log-line ')

    everything = log_lines({"tab": "logs"})
    assert everything > 1
    # A guessed secret filters nothing: the match count would tell it is there.
    assert log_lines({"tab": "logs", "q": "hunter2"}) == everything
    assert log_lines({"tab": "logs", "q": "no such text"}) == everything


def test_a_revoked_or_expired_or_forged_link_opens_nothing(shared, owner):
    link = ShareLink.objects.get()
    assert Client().get(shared).status_code == 200

    ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = Client().get(shared)
    assert expired.status_code == 410 and "expired" in expired.content.decode()
    assert RUN_ID not in expired.content.decode()

    ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() + timedelta(hours=1))
    assert login(owner).post(f"/settings/shares/{link.pk}/revoke/").status_code == 302
    revoked = Client().get(shared)
    assert revoked.status_code == 410 and "revoked" in revoked.content.decode()
    assert "Set-Cookie" not in revoked.headers

    token = shared.removeprefix("/share/").rstrip("/")
    random_part, signature = token.split(".")
    assert Client().get(share_path(random_part + "x." + signature)).status_code == 404
    assert Client().get("/share/not-a-token/").status_code == 404


def test_the_creator_or_an_owner_revokes_others_may_not(secret_run, project, owner, make_member):
    run = Run.objects.get(project=project, run_id=RUN_ID)
    developer, support = make_member("developer"), make_member("support")
    mine, _ = sharelink_create(run=run, created_by=developer)
    theirs, _ = sharelink_create(run=run, created_by=support)

    assert login(developer).post(f"/settings/shares/{theirs.pk}/revoke/").status_code == 403
    assert login(developer).post(f"/settings/shares/{mine.pk}/revoke/").status_code == 302
    assert login(owner).post(f"/settings/shares/{theirs.pk}/revoke/").status_code == 302
    mine.refresh_from_db(), theirs.refresh_from_db()
    assert mine.revoked_by == developer and theirs.revoked_by == owner


def test_an_outsider_cannot_revoke_another_organizations_link(secret_run, owner, outsider):
    create(login(owner))
    link = ShareLink.objects.get()

    assert login(outsider).post(f"/settings/shares/{link.pk}/revoke/").status_code == 404
    assert ShareLink.objects.get().state == "active"


def test_the_revoke_form_keeps_csrf(shared, owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    link = ShareLink.objects.get()

    assert client.post(f"/settings/shares/{link.pk}/revoke/").status_code == 403
    assert client.post(f"/runs/{RUN_ID}/share/", {"hours": 1}).status_code == 403
    assert ShareLink.objects.get(pk=link.pk).state == "active"


def test_creating_and_revoking_are_in_the_audit_log_and_in_settings(shared, owner, org):
    link = ShareLink.objects.get()
    client = login(owner)
    client.post(f"/settings/shares/{link.pk}/revoke/")

    entries = list(AuditEntry.objects.filter(organization=org).order_by("created_at"))
    assert [e.action for e in entries] == ["share_link.created", "share_link.revoked"]
    assert all(e.actor == owner and e.target == f"run {RUN_ID}" for e in entries)
    assert entries[0].details["link"] == link.prefix and entries[0].details["hours"] == 24
    settings_page = client.get("/settings/").content.decode()
    assert f'data-share="{link.prefix}"' in settings_page
    assert 'data-audit="share_link.created"' in settings_page
    assert 'data-audit="share_link.revoked"' in settings_page


def test_only_owners_see_the_audit_log_but_everyone_sees_share_links(shared, make_member):
    page = login(make_member("viewer")).get("/settings/").content.decode()

    assert 'id="shares"' in page and f'data-share="{ShareLink.objects.get().prefix}"' in page
    assert 'id="audit"' not in page
    assert "Revoke" not in page.split('id="shares"')[1].split("</section>")[0]


def test_owners_edit_the_projects_patterns_and_bad_ones_are_refused(secret_run, owner, project,
                                                                     make_member):  # fmt: skip
    client = login(owner)
    client.post("/settings/redaction/", {"patterns": "ticket-\\d+\n\n  cust_[a-z]{4}  "})
    project.refresh_from_db()
    assert project.redaction_patterns == "ticket-\\d+\ncust_[a-z]{4}"
    assert AuditEntry.objects.filter(action="project.redaction_changed").count() == 1

    response = client.post("/settings/redaction/", {"patterns": "broken(["}, follow=True)
    assert "is not valid" in response.content.decode()
    project.refresh_from_db()
    assert project.redaction_patterns == "ticket-\\d+\ncust_[a-z]{4}"

    assert (
        login(make_member("developer")).post("/settings/redaction/", {"patterns": "x+"}).status_code
        == 403
    )


def test_a_projects_pattern_applies_to_its_shared_pages(project, owner):
    apply_now(project, [
        ev("run_start", "run_p", at=0, inputs={"ticket": "ticket-99812"}),
        ev("log", "run_p", at=1, message="closing ticket-99812", level="info"),
    ])  # fmt: skip
    client = login(owner)
    path = link_from(create(client, run_id="run_p"))
    assert "ticket-99812" in Client().get(path, {"tab": "logs"}).content.decode()

    client.post("/settings/redaction/", {"patterns": r"ticket-\d+"})

    client = Client()
    shown = client.get(path, {"tab": "logs"}).content.decode() + client.get(path).content.decode()
    assert "ticket-99812" not in shown and "[redacted]" in shown


def queries_for(path: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert Client().get(path).status_code == 200
    return len(captured)


def test_the_shared_page_reads_as_many_queries_for_a_long_run_as_for_a_short_one(project, owner):
    def a_run(run_id: str, steps: int) -> list[dict]:
        events = [ev("run_start", run_id, at=0, config={"required_env": ["OPENAI_API_KEY"]})]
        for n in range(steps):
            events += [
                ev("tool_start", run_id, at=n + 0.1, tool_name="fetch", span_id=f"s{n}",
                   input_str=f"OPENAI_API_KEY=sk-proj-{n:020d}"),
                ev("tool_end", run_id, at=n + 0.5, tool_name="fetch", span_id=f"s{n}", output="ok"),
                ev("log", run_id, at=n + 0.6, message=f"step {n} for ann@example.org"),
            ]  # fmt: skip
        return [*events, ev("error", run_id, at=steps + 1, error={"type": "E", "message": "x"})]

    apply_now(project, a_run("short", 2) + a_run("long", 40))
    client = login(owner)
    short, long = (link_from(create(client, run_id=r)) for r in ("short", "long"))

    assert queries_for(short) == queries_for(long)


def test_a_running_run_is_shared_as_a_still_picture(project, owner):
    apply_now(project, [ev("run_start", "run_live", at=0, inputs={"q": "hi"})])
    path = link_from(create(login(owner), run_id="run_live"))

    page = Client().get(path).content.decode()

    opening = page.split('id="run-detail"')[1].split(">")[0]
    assert 'data-live-url=""' in opening and not re.search(r"\sdata-live(\s|$)", opening)
    assert "/live" not in page


def test_the_shared_checklist_names_no_other_run_to_open(project, owner):
    from tests.runs.test_views_debug import CLOUD_RUNTIME, LOCAL_RUNTIME, run_events

    apply_now(
        project,
        run_events("run_local", environment="local", runtime=LOCAL_RUNTIME, at=0)
        + run_events("run_cloud", environment="cloud", runtime=CLOUD_RUNTIME, at=600, fail=True),
    )
    client = login(owner)
    member_checklist = client.get("/runs/run_cloud/checklist/").content.decode()
    assert 'href="/runs/run_local/' in member_checklist  # a member may open the local run

    page = Client().get(link_from(create(client, run_id="run_cloud"))).content.decode()

    assert 'id="debug-checklist"' in page and "Same input locally" in page
    assert "Local runs with this input" not in page
    assert "/runs/" not in page and "/compare" not in page
    assert "Runtime" in page and CLOUD_RUNTIME["image"] in page  # the run's own evidence
