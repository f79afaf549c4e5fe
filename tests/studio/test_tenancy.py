"""Isolation: no URL, form or key reaches another organization's data."""

from django.contrib.auth import get_user_model

from studio.apikeys import apikey_create
from studio.models import ApiKey, Membership
from studio.services import member_set, project_get_or_create
from tests.conftest import PASSWORD, apply_now, ev, login


def current(client):
    """The organization and project the next page would show."""
    request = client.get("/settings/").wsgi_request
    return request.org, request.project


# Switching ---------------------------------------------------------------------------------


def test_switching_to_own_project_changes_the_current_project(owner_client, org, project):
    second = project_get_or_create(organization=org, name="Support agent")

    response = owner_client.post("/switch/", {"project": second.id, "next": "/errors/"})

    assert response.status_code == 302
    assert response["Location"] == "/errors/"
    assert current(owner_client) == (org, second)


def test_switching_to_another_orgs_project_is_ignored(owner_client, org, project, other_project):
    owner_client.post("/switch/", {"project": other_project.id})

    assert owner_client.session.get("project_id") is None
    assert current(owner_client) == (org, project)


def test_switching_to_another_org_is_ignored(owner_client, org, project, other_org):
    owner_client.post("/switch/", {"org": other_org.id, "project": project.id})

    assert owner_client.session.get("org_id") is None
    assert current(owner_client) == (org, project)


def test_a_member_of_two_orgs_switches_between_them(owner, org, project, other_org, other_project):
    member_set(organization=other_org, username=owner.username, role="viewer")
    client = login(owner)

    client.post("/switch/", {"org": other_org.id})
    assert current(client) == (other_org, other_project)
    assert client.get("/revenue/").status_code == 403  # a viewer there, whatever they are here

    client.post("/switch/", {"org": org.id})
    assert current(client) == (org, project)
    assert client.get("/revenue/").status_code == 200


def test_a_member_removed_from_an_org_loses_it_on_the_next_request(
    owner, org, project, other_org, other_project
):
    membership = member_set(organization=other_org, username=owner.username, role="developer")
    client = login(owner)
    client.post("/switch/", {"org": other_org.id})
    assert current(client) == (other_org, other_project)

    membership.delete()

    assert current(client) == (org, project)
    assert "Globex" not in client.get("/runs/").content.decode()


def test_switch_never_redirects_off_site(owner_client, project):
    targets = ["https://evil.example/", "//evil.example/runs/", "/\\evil.example", "javascript:x",
               "settings:index", "foo", ""]  # fmt: skip
    for target in targets:
        response = owner_client.post("/switch/", {"project": project.id, "next": target})

        assert response.status_code == 302
        assert response["Location"] == "/runs/", target


def test_switch_needs_a_login(client, project):
    response = client.post("/switch/", {"project": project.id})

    assert response.status_code == 302
    assert response["Location"] == "/login/"


def test_pages_never_name_another_orgs_projects(owner_client, other_project):
    for page in ["/runs/", "/settings/"]:
        html = owner_client.get(page).content.decode()

        assert "Globex" not in html, page


# Settings actions on another organization's ids ---------------------------------------------


def test_revoking_another_orgs_key_is_404_and_the_key_keeps_working(owner_client, other_project):
    key, raw_key = apikey_create(project=other_project, scopes=["read"])

    response = owner_client.post(f"/settings/keys/{key.id}/revoke/")

    assert response.status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None
    api = login_with_key(raw_key)
    assert api.get("/api/v1/runs").status_code == 200


def test_removing_another_orgs_member_is_404_and_they_stay(owner_client, outsider):
    membership = Membership.objects.get(user=outsider)

    response = owner_client.post(f"/settings/members/{membership.id}/delete/")

    assert response.status_code == 404
    assert Membership.objects.filter(pk=membership.pk, role="owner").exists()


def test_an_owner_cannot_reset_the_password_of_someone_elses_account(owner_client, outsider):
    response = owner_client.post(
        "/settings/members/",
        {"username": outsider.username, "role": "viewer", "password": "taken-over-9931"},
        follow=True,
    )

    assert response.status_code == 200
    assert "already has an account" in response.content.decode()
    outsider.refresh_from_db()
    assert outsider.check_password(PASSWORD)
    assert not outsider.check_password("taken-over-9931")


def test_adding_an_existing_user_without_a_password_gives_them_the_role(
    owner_client, org, outsider
):
    owner_client.post("/settings/members/", {"username": outsider.username, "role": "support"})

    assert Membership.objects.get(organization=org, user=outsider).role == "support"
    outsider.refresh_from_db()
    assert outsider.check_password(PASSWORD)


def test_keys_are_created_in_the_current_project_only(owner_client, project, other_project):
    owner_client.post("/switch/", {"project": other_project.id})

    owner_client.post("/settings/keys/", {"scopes": ["read"]})

    assert ApiKey.objects.filter(project=project).count() == 1
    assert not ApiKey.objects.filter(project=other_project).exists()


# API keys ----------------------------------------------------------------------------------


def login_with_key(raw_key: str):
    from django.test import Client

    return Client(headers={"Authorization": f"Bearer {raw_key}"})


def test_a_key_reads_only_its_own_projects_runs(api, project, other_project):
    apply_now(project, [ev("run_start", "run_ours")])
    apply_now(other_project, [ev("run_start", "run_theirs")])

    listed = [r["run_id"] for r in api.get("/api/v1/runs").json()["runs"]]
    detail = api.get("/api/v1/runs/run_theirs")
    events = api.get("/api/v1/runs/run_theirs/events")

    assert listed == ["run_ours"]
    assert detail.status_code == 404
    assert events.status_code == 404
    assert "run_theirs" not in detail.content.decode().replace("'run_theirs'", "")
    assert api.get("/api/v1/runs/run_ours").status_code == 200


def test_same_run_id_in_two_projects_reads_each_projects_own_run(api, project, other_project):
    apply_now(project, [ev("run_start", "run_1", agent="ours")])
    apply_now(other_project, [ev("run_start", "run_1", agent="theirs")])

    assert api.get("/api/v1/runs/run_1").json()["agent"]["name"] == "ours"


# No membership -----------------------------------------------------------------------------


def test_a_user_with_no_membership_sees_the_no_organization_page(db, project):
    loner = get_user_model().objects.create_user("loner", password=PASSWORD)
    client = login(loner)

    for page in ["/runs/", "/errors/", "/usage/", "/revenue/", "/settings/"]:
        response = client.get(page)

        assert response.status_code == 403, page
        html = response.content.decode()
        assert "You're not in an organization yet" in html
        assert "addmember loner --org" in html
        assert "Invoice bot" not in html
