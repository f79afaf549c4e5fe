"""Settings: projects, members and keys through the forms a user fills in."""

import pytest
from django.test import Client

from studio.apikeys import apikey_create
from studio.models import ApiKey, Membership, Project
from studio.services import member_remove, member_set, organization_get_or_create
from tests.conftest import PASSWORD, login


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# Projects ----------------------------------------------------------------------------------


def test_creating_a_project_switches_to_it(owner_client, org, project):
    response = owner_client.post("/settings/projects/", {"name": "Support agent"}, follow=True)

    created = Project.objects.get(organization=org, name="Support agent")
    assert response.wsgi_request.project == created
    assert messages_of(response) == [
        "Project Support agent is ready. Create an API key to send events."
    ]
    assert 'id="keys-title">API keys · Support agent' in response.content.decode()
    assert owner_client.get("/runs/").wsgi_request.project == created


def test_creating_a_project_with_an_existing_name_switches_to_that_project(
    owner_client, org, project
):
    owner_client.post("/settings/projects/", {"name": "Other"})

    owner_client.post("/settings/projects/", {"name": "Invoice Bot"})

    assert Project.objects.filter(organization=org).count() == 2
    assert owner_client.get("/settings/").wsgi_request.project == project


def test_a_long_project_name_up_to_200_characters_is_accepted(owner_client, org, project):
    name = "Quarterly reconciliation agent for the European subsidiaries " * 3
    name = name[:200].strip()

    response = owner_client.post("/settings/projects/", {"name": name}, follow=True)

    assert response.status_code == 200
    created = Project.objects.get(organization=org, name=name)
    assert len(created.slug) <= 100
    assert response.wsgi_request.project == created


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_a_project_needs_a_name_of_1_to_200_characters(owner_client, org, project, name):
    response = owner_client.post("/settings/projects/", {"name": name}, follow=True)

    assert messages_of(response) == ["A project needs a name of 1 to 200 characters."]
    assert Project.objects.filter(organization=org).count() == 1


def test_project_names_are_escaped(owner_client, org, project):
    owner_client.post("/settings/projects/", {"name": "<script>alert(1)</script>"})

    for page in ["/settings/", "/runs/"]:
        html = owner_client.get(page).content.decode()
        assert "<script>alert(1)</script>" not in html, page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, page


def test_an_org_without_projects_asks_its_owner_for_a_first_one(db):
    org = organization_get_or_create(name="Fresh")
    owner = member_set(organization=org, username="fran", role="owner", password=PASSWORD).user
    client = login(owner)

    assert client.get("/runs/")["Location"] == "/settings/"
    html = client.get("/settings/").content.decode()
    assert "Create your first project" in html
    assert 'action="/settings/projects/"' in html
    response = client.post("/settings/keys/", {"scopes": ["read"]})
    assert response["Location"] == "/settings/"
    assert not ApiKey.objects.exists()


def test_a_viewer_in_an_org_without_projects_is_told_who_can_create_one(db):
    org = organization_get_or_create(name="Fresh")
    member_set(organization=org, username="fran", role="owner")
    viewer = member_set(organization=org, username="vic", role="viewer").user

    html = login(viewer).get("/settings/").content.decode()

    assert "Only an owner of Fresh can create projects." in html
    assert 'action="/settings/projects/"' not in html


# Keys --------------------------------------------------------------------------------------


def test_creating_a_key_with_no_scopes_says_so_and_creates_nothing(owner_client, project):
    response = owner_client.post("/settings/keys/", {"name": "empty"}, follow=True)

    assert messages_of(response) == ["Scopes must be some of ingest, read; got none."]
    assert not ApiKey.objects.exists()
    assert "<pre>chs_" not in response.content.decode()


def test_creating_a_key_with_an_unknown_scope_says_so(owner_client, project):
    response = owner_client.post("/settings/keys/", {"scopes": ["read", "admin"]}, follow=True)

    assert "Scopes must be some of ingest, read" in messages_of(response)[0]
    assert not ApiKey.objects.exists()


def test_the_key_form_offers_both_scopes_checked(owner_client, project):
    html = owner_client.get("/settings/").content.decode()

    assert 'name="scopes" value="ingest" checked' in html
    assert 'name="scopes" value="read" checked' in html


# Members -----------------------------------------------------------------------------------


def test_an_owner_adds_a_member_who_can_then_log_in(owner_client, org):
    response = owner_client.post(
        "/settings/members/",
        {"username": "nina", "role": "support", "password": "nina-long-pass-55"},
        follow=True,
    )

    assert messages_of(response) == ["nina is now support."]
    assert Membership.objects.get(user__username="nina").role == "support"
    client = Client()
    assert client.login(username="nina", password="nina-long-pass-55")
    assert client.get("/usage/").status_code == 200
    assert client.get("/revenue/").status_code == 403


def test_a_weak_password_for_a_new_member_is_refused(owner_client, org):
    response = owner_client.post(
        "/settings/members/", {"username": "nina", "role": "viewer", "password": "abc"}, follow=True
    )

    assert "This password is too short" in messages_of(response)[0]
    assert not Membership.objects.filter(user__username="nina").exists()


def test_an_owner_changes_a_members_role(owner_client, teammate):
    response = owner_client.post(
        "/settings/members/", {"username": "theo", "role": "finance"}, follow=True
    )

    assert messages_of(response) == ["theo is now finance."]
    assert Membership.objects.get(user=teammate).role == "finance"
    assert login(teammate).get("/revenue/").status_code == 200


@pytest.mark.parametrize("role", ["boss", "", "OWNER"])
def test_saving_a_member_with_an_unknown_role_says_so_and_changes_nothing(
    owner_client, teammate, role
):
    response = owner_client.post("/settings/members/", {"username": "theo", "role": role},
                                 follow=True)  # fmt: skip

    assert messages_of(response) == [
        f"Role must be one of owner, developer, support, finance, viewer; got {role!r}."
    ]
    assert Membership.objects.get(user=teammate).role == "developer"


def test_saving_a_member_without_a_username_says_so(owner_client, org):
    response = owner_client.post("/settings/members/", {"username": " ", "role": "viewer"},
                                 follow=True)  # fmt: skip

    assert messages_of(response) == ["Give the member's username."]
    assert Membership.objects.filter(organization=org).count() == 1


def test_an_owner_removes_a_member_who_then_has_no_organization(owner_client, teammate):
    membership = Membership.objects.get(user=teammate)

    response = owner_client.post(f"/settings/members/{membership.id}/delete/", follow=True)

    assert messages_of(response) == ["theo was removed."]
    assert login(teammate).get("/runs/").status_code == 403


# The last owner ----------------------------------------------------------------------------

LAST_OWNER = "An organization needs at least one owner."


def test_the_last_owner_cannot_be_removed(owner_client, owner):
    membership = Membership.objects.get(user=owner)

    response = owner_client.post(f"/settings/members/{membership.id}/delete/", follow=True)

    assert messages_of(response) == [LAST_OWNER]
    assert Membership.objects.filter(pk=membership.pk, role="owner").exists()


def test_the_last_owner_cannot_be_demoted(owner_client, owner):
    response = owner_client.post("/settings/members/", {"username": "olivia", "role": "developer"},
                                 follow=True)  # fmt: skip

    assert messages_of(response) == [LAST_OWNER]
    assert Membership.objects.get(user=owner).role == "owner"


def test_with_a_second_owner_an_owner_can_step_down(owner_client, owner, teammate):
    member_set(organization=Membership.objects.get(user=owner).organization, username="theo",
               role="owner")  # fmt: skip

    owner_client.post("/settings/members/", {"username": "olivia", "role": "viewer"})

    assert Membership.objects.get(user=owner).role == "viewer"
    assert owner_client.get("/settings/").status_code == 200
    assert owner_client.post("/settings/projects/", {"name": "x"}).status_code == 403


def test_the_last_owner_rule_counts_only_this_orgs_owners(owner, outsider, org):
    # Oscar owns Globex; that does not make him a second owner of Acme.
    membership = Membership.objects.get(user=owner)

    with pytest.raises(ValueError, match="at least one owner"):
        member_remove(membership=membership)
    with pytest.raises(ValueError, match="at least one owner"):
        member_set(organization=org, username="olivia", role="finance")


# The page itself ---------------------------------------------------------------------------


def test_the_settings_page_makes_a_fixed_number_of_queries(
    owner_client, org, project, django_assert_max_num_queries
):
    for i in range(15):
        member_set(organization=org, username=f"member{i}", role="viewer")
        apikey_create(project=project, scopes=["read"], name=f"key {i}", created_by=None)

    with django_assert_max_num_queries(10):
        response = owner_client.get("/settings/")

    html = response.content.decode()
    assert "member14" in html and "key 14" in html


@pytest.mark.parametrize("username", ["<b>bold</b>", "two words", "x" * 151])
def test_an_invalid_username_is_refused_and_shown_escaped(owner_client, org, username):
    response = owner_client.post("/settings/members/", {"username": username, "role": "viewer"},
                                 follow=True)  # fmt: skip

    (message,) = messages_of(response)
    assert message.startswith("A username has 1 to 150 letters, digits and @ . + - _ only; got")
    assert Membership.objects.filter(organization=org).count() == 1
    html = response.content.decode()
    assert "<b>bold</b>" not in html


def test_a_forbidden_page_names_the_permission_and_who_can_change_it(make_member):
    response = login(make_member("viewer")).get("/revenue/")

    html = response.content.decode()
    assert response.status_code == 403
    assert "<code>view_revenue</code>" in html and "in Acme" in html
    assert "Settings → Members" in html


# CSRF --------------------------------------------------------------------------------------


def test_settings_forms_without_a_csrf_token_are_refused(owner, org, project, teammate):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    membership = Membership.objects.get(user=teammate)

    answers = [
        client.post("/settings/projects/", {"name": "Sneaky"}),
        client.post("/settings/keys/", {"scopes": ["read"]}),
        client.post("/settings/members/", {"username": "mallory", "role": "owner"}),
        client.post(f"/settings/members/{membership.id}/delete/"),
        client.post("/switch/", {"project": project.id}),
    ]

    assert [a.status_code for a in answers] == [403] * 5
    assert not Project.objects.filter(name="Sneaky").exists()
    assert not ApiKey.objects.exists()
    assert Membership.objects.filter(organization=org).count() == 2


def test_settings_forms_with_the_pages_csrf_token_work(owner, org, project):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    client.get("/settings/")
    token = client.cookies["csrftoken"].value

    response = client.post("/settings/projects/", {"name": "Legit", "csrfmiddlewaretoken": token})

    assert response.status_code == 302
    assert Project.objects.filter(organization=org, name="Legit").exists()


@pytest.mark.django_db(transaction=True)
def test_two_owners_stepping_down_at_once_leave_one_owner(owner, teammate, org):
    import threading

    from django.db import connection, transaction

    member_set(organization=org, username="theo", role="owner")
    olivia = Membership.objects.get(user=owner)
    theo = Membership.objects.get(user=teammate)
    outcome = {}

    def theo_leaves():
        try:
            member_remove(membership=theo)
            outcome["theo"] = "removed"
        except ValueError as error:
            outcome["theo"] = str(error)
        finally:
            connection.close()

    with transaction.atomic():
        member_remove(membership=olivia)  # not committed yet
        other = threading.Thread(target=theo_leaves)
        other.start()
        other.join(timeout=0.5)  # it waits for this transaction, or (unlocked) races past it
    other.join(timeout=10)

    assert outcome == {"theo": "an organization needs at least one owner"}
    assert list(Membership.objects.filter(organization=org, role="owner")) == [theo]
