"""`createapikey` and `addmember`: what scripts and a first-time owner run."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from studio.models import ApiKey, Membership, Organization, Project
from tests.conftest import PASSWORD


def run(command: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def log_in_with_the_form(username: str, password: str) -> Client:
    client = Client()
    response = client.post("/login/", {"username": username, "password": password})
    assert response.status_code == 302, "login failed"
    assert response["Location"] == "/runs/"
    return client


# createapikey ------------------------------------------------------------------------------


def test_createapikey_creates_org_and_project_and_prints_a_working_key_last(db):
    out, err = run("createapikey", "--org", "Initech", "--project", "TPS reports")

    raw_key = out.rstrip("\n").splitlines()[-1]
    project = Project.objects.get(organization__name="Initech", name="TPS reports")
    assert raw_key.startswith("chs_")
    assert ApiKey.objects.get(project=project).scopes == ["ingest", "read"]
    assert "shown once" in err and raw_key not in err
    response = Client(headers={"Authorization": f"Bearer {raw_key}"}).get("/api/v1/runs")
    assert response.status_code == 200
    assert response.json()["runs"] == []


def test_createapikey_reuses_an_existing_org_and_project_by_slug(project):
    out, _ = run("createapikey", "--org", "acme", "--project", "invoice-bot", "--scopes", "read")

    assert Organization.objects.count() == 1
    assert Project.objects.count() == 1
    key = ApiKey.objects.get()
    assert key.project == project and key.scopes == ["read"]
    assert out.strip().splitlines()[-1].startswith(key.prefix)


def test_createapikey_scopes_and_name_are_kept(project):
    run("createapikey", "--org", "Acme", "--project", "Invoice bot", "--scopes", " ingest ,",
        "--name", "runner-eu")  # fmt: skip

    key = ApiKey.objects.get()
    assert (key.scopes, key.name) == (["ingest"], "runner-eu")


@pytest.mark.parametrize("scopes", ["admin", "read,write", ","])
def test_createapikey_with_bad_scopes_fails_naming_scopes_and_creates_nothing(db, scopes):
    with pytest.raises(CommandError, match="--scopes: scopes must be some of ingest, read"):
        run("createapikey", "--org", "Initech", "--project", "TPS", "--scopes", scopes)

    assert not ApiKey.objects.exists()
    assert not Organization.objects.filter(name="Initech").exists()
    assert not Project.objects.exists()


# addmember ---------------------------------------------------------------------------------


def test_addmember_creates_a_user_who_can_log_in_with_the_form(db):
    out, _ = run("addmember", "bob", "--org", "My Org", "--role", "owner",
                 "--password", "a-strong-one-771")  # fmt: skip

    assert out.strip() == "bob is owner of My Org"
    client = log_in_with_the_form("bob", "a-strong-one-771")
    assert client.get("/runs/")["Location"] == "/settings/"  # no project yet: make one first
    response = client.get("/settings/")
    assert "Create your first project" in response.content.decode()
    assert response.wsgi_request.role == "owner"
    assert response.wsgi_request.org.name == "My Org"


def test_addmember_rerun_changes_the_role_and_keeps_the_password(owner, teammate):
    run("addmember", "theo", "--org", "Acme", "--role", "finance")

    assert Membership.objects.get(user=teammate).role == "finance"
    assert Membership.objects.filter(user=teammate).count() == 1
    teammate.refresh_from_db()
    assert teammate.check_password(PASSWORD)


def test_addmember_with_a_password_resets_it(teammate):
    run("addmember", "theo", "--org", "Acme", "--role", "developer", "--password", "new-pw-8812")

    log_in_with_the_form("theo", "new-pw-8812")


def test_addmember_without_a_password_makes_an_account_that_cannot_log_in_yet(db):
    run("addmember", "carol", "--org", "Acme", "--role", "viewer")

    carol = get_user_model().objects.get(username="carol")
    assert not carol.has_usable_password()
    response = Client().post("/login/", {"username": "carol", "password": ""})
    assert response.status_code == 200  # the form again


def test_addmember_rejects_unknown_roles(db):
    with pytest.raises(CommandError, match="--role: invalid choice: 'boss'"):
        run("addmember", "bob", "--org", "Acme", "--role", "boss")

    assert not get_user_model().objects.filter(username="bob").exists()


def test_addmember_cannot_demote_the_last_owner(owner):
    with pytest.raises(CommandError, match="an organization needs at least one owner"):
        run("addmember", "olivia", "--org", "Acme", "--role", "viewer")

    assert Membership.objects.get(user=owner).role == "owner"


def test_addmember_puts_one_user_in_several_orgs(owner, other_org):
    run("addmember", "olivia", "--org", "Globex", "--role", "support")

    roles = dict(Membership.objects.filter(user=owner).values_list("organization__name", "role"))
    assert roles == {"Acme": "owner", "Globex": "support"}


def test_addmember_rejects_usernames_that_could_not_log_in(db):
    with pytest.raises(CommandError, match="a username has 1 to 150 letters"):
        run("addmember", "bob smith", "--org", "Acme", "--role", "viewer")

    assert not get_user_model().objects.exists()
    assert not Organization.objects.exists()


def test_services_only_prints_nothing_but_the_urls_on_stdout(monkeypatch, capsys):
    """`./dev.sh test` evals what `studio.up --services-only` prints: a status line on
    stdout broke it on a machine without DATABASE_URL and REDIS_URL."""
    from studio import embedded, up

    urls = {"DATABASE_URL": "postgresql://postgres:@/postgres?host=/x", "REDIS_URL": "redis://y"}
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(embedded, "start_all", lambda: urls)  # not the servers: the output
    monkeypatch.setattr("sys.argv", ["studio.up", "--services-only"])

    up.main()

    out, err = capsys.readouterr()
    assert out.splitlines() == [f"{k}={v}" for k, v in urls.items()]
    assert "Starting embedded" in err
