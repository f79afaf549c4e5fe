"""What each role may open and do; capabilities decide, never a role name in a view."""

import pytest

from studio.apikeys import apikey_create
from studio.models import ApiKey, Membership, Project
from tests.conftest import login

ROLES = ["owner", "developer", "support", "finance", "viewer"]

# Which pages each role opens (200); every other page gives 403.
OPENS = {
    "owner": {"/runs/", "/errors/", "/usage/", "/revenue/", "/alerts/", "/settings/"},
    "developer": {"/runs/", "/errors/", "/usage/", "/alerts/", "/settings/"},
    "support": {"/runs/", "/errors/", "/usage/", "/alerts/", "/settings/"},
    "finance": {"/runs/", "/errors/", "/usage/", "/revenue/", "/alerts/", "/settings/"},
    "viewer": {"/runs/", "/errors/", "/settings/"},
}
PAGES = sorted(OPENS["owner"])


@pytest.fixture
def as_role(make_member):
    """A client logged in as a member of Acme with the given role."""
    return lambda role: login(make_member(role))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", PAGES)
def test_each_role_opens_its_pages_and_gets_403_on_the_others(as_role, role, page):
    response = as_role(role).get(page)

    expected = 200 if page in OPENS[role] else 403
    assert response.status_code == expected, f"{role} on {page}"
    if expected == 403:
        assert f"Your role ({role}) can" in response.content.decode()


@pytest.mark.parametrize("role", ROLES)
def test_the_nav_only_links_the_pages_a_role_can_open(as_role, role):
    html = as_role(role).get("/settings/").content.decode()

    for page in PAGES:
        assert (f'href="{page}"' in html) == (page in OPENS[role]), f"{role}: link to {page}"


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_visitors_are_sent_to_the_login_page(client, db, page):
    response = client.get(page)

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={page}"


def test_anonymous_posts_change_nothing_and_go_to_the_login_page(client, project):
    response = client.post("/settings/keys/", {"scopes": ["read"]})

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    assert not ApiKey.objects.exists()


def test_the_login_redirect_keeps_the_query_string(client, db):
    response = client.get("/runs/?status=failed&agent=invoice-bot")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/runs/%3Fstatus%3Dfailed%26agent%3Dinvoice-bot"
    login_page = client.get(response["Location"])
    assert login_page.context["next"] == "/runs/?status=failed&agent=invoice-bot"


# Settings page: what each role sees --------------------------------------------------------

MEMBER_FORM = 'action="/settings/members/"'
KEY_FORM = 'action="/settings/keys/"'
PROJECT_FORM = 'action="/settings/projects/"'


@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_settings_but_only_owners_manage_members_and_projects(
    as_role, role, project
):
    html = as_role(role).get("/settings/").content.decode()

    assert "Members" in html and "user-" + role in html
    assert (MEMBER_FORM in html) == (role == "owner")
    assert ("/delete/" in html) == (role == "owner")
    assert (PROJECT_FORM in html) == (role == "owner")


@pytest.mark.parametrize("role", ROLES)
def test_only_owners_and_developers_see_the_api_keys(as_role, role, project):
    key, _ = apikey_create(project=project, scopes=["read"], name="ci runner")

    html = as_role(role).get("/settings/").content.decode()

    sees_keys = role in ("owner", "developer")
    assert (KEY_FORM in html) == sees_keys
    assert (key.prefix in html) == sees_keys
    assert ("ci runner" in html) == sees_keys
    if not sees_keys:
        assert "Owners and developers manage this project's API keys" in html


# POST actions ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_only_owners_create_projects(as_role, role, org):
    response = as_role(role).post("/settings/projects/", {"name": "Support agent"})

    created = Project.objects.filter(organization=org, name="Support agent").exists()
    assert created == (role == "owner")
    assert response.status_code == (302 if role == "owner" else 403)


@pytest.mark.parametrize("role", ROLES)
def test_only_owners_add_members_or_change_roles(as_role, role, org, teammate):
    client = as_role(role)

    added = client.post("/settings/members/", {"username": "newbie", "role": "viewer"})
    changed = client.post("/settings/members/", {"username": "theo", "role": "finance"})

    allowed = role == "owner"
    assert (added.status_code, changed.status_code) == ((302, 302) if allowed else (403, 403))
    assert Membership.objects.filter(organization=org, user__username="newbie").exists() == allowed
    assert Membership.objects.get(user=teammate).role == ("finance" if allowed else "developer")


@pytest.mark.parametrize("role", ROLES)
def test_only_owners_remove_members(as_role, role, teammate):
    membership = Membership.objects.get(user=teammate)

    response = as_role(role).post(f"/settings/members/{membership.id}/delete/")

    allowed = role == "owner"
    assert response.status_code == (302 if allowed else 403)
    assert Membership.objects.filter(pk=membership.pk).exists() != allowed


@pytest.mark.parametrize("role", ROLES)
def test_only_owners_and_developers_create_and_revoke_keys(as_role, role, project):
    existing, _ = apikey_create(project=project, scopes=["ingest"])
    client = as_role(role)

    created = client.post("/settings/keys/", {"name": "new", "scopes": ["read"]})
    revoked = client.post(f"/settings/keys/{existing.id}/revoke/")

    allowed = role in ("owner", "developer")
    assert (created.status_code, revoked.status_code) == ((302, 302) if allowed else (403, 403))
    assert ApiKey.objects.filter(project=project, name="new").exists() == allowed
    existing.refresh_from_db()
    assert (existing.revoked_at is not None) == allowed


def test_settings_actions_only_accept_post(owner_client, project):
    key, _ = apikey_create(project=project, scopes=["read"])

    assert owner_client.get("/settings/projects/").status_code == 405
    assert owner_client.get(f"/settings/keys/{key.id}/revoke/").status_code == 405
    key.refresh_from_db()
    assert key.revoked_at is None
