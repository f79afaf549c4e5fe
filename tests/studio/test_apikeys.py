"""API keys: stored as a SHA-256 only, shown once, revocable, scoped, and touched sparingly."""

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from studio.apikeys import apikey_create, apikey_revoke
from studio.models import ApiKey
from tests.conftest import ev

RUNS = "/api/v1/runs"
INGEST = "/api/v1/ingest"


def with_key(raw_key: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {raw_key}"})


def ingest_one(client: Client):
    import json

    return client.post(INGEST, data=json.dumps(ev("run_start")), content_type="application/json")


def created_from_settings(client: Client, **form) -> tuple[ApiKey, str]:
    """Create a key through the settings form; return it and the page shown after."""
    response = client.post("/settings/keys/", {"scopes": ["ingest", "read"], **form}, follow=True)
    assert response.status_code == 200
    return ApiKey.objects.latest("created_at"), response.content.decode()


def raw_key_on(html: str) -> str:
    start = html.index("<pre>chs_") + len("<pre>")
    return html[start : html.index("</pre>", start)]


# Storage -----------------------------------------------------------------------------------


def test_only_the_sha256_of_a_key_is_stored(project, owner):
    key, raw_key = apikey_create(project=project, scopes=["read"], name="ci", created_by=owner)

    stored = {f.name: getattr(key, f.attname) for f in ApiKey._meta.concrete_fields}
    assert key.key_hash == hashlib.sha256(raw_key.encode()).hexdigest()
    assert not any(raw_key in str(value) for value in stored.values()), stored
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(k)::text FROM studio_apikey k")
        (row,) = cursor.fetchone()
    assert raw_key not in row
    assert raw_key[12:] not in row  # not even the secret part after the prefix


def test_keys_are_long_random_and_start_with_a_recognisable_prefix(project):
    _, first = apikey_create(project=project, scopes=["read"])
    key, second = apikey_create(project=project, scopes=["read"])

    assert first != second
    assert second.startswith("chs_") and len(second) >= 40
    assert key.prefix == second[:12]


def test_unknown_or_no_scopes_are_refused(project):
    with pytest.raises(ValueError, match="scopes must be some of ingest, read; got read, admin"):
        apikey_create(project=project, scopes=["read", "admin"])
    with pytest.raises(ValueError, match="got none"):
        apikey_create(project=project, scopes=[])
    assert not ApiKey.objects.exists()


# Shown once --------------------------------------------------------------------------------


def test_a_new_key_is_shown_once_with_a_first_curl(owner_client, project):
    key, html = created_from_settings(owner_client, name="production runner")
    raw_key = raw_key_on(html)

    assert key.key_hash == hashlib.sha256(raw_key.encode()).hexdigest()
    assert "Copy it now" in html
    assert f"Authorization: Bearer {raw_key}" in html
    assert "/api/v1/ingest" in html
    assert key.created_by.username == "olivia" and key.name == "production runner"

    again = owner_client.get("/settings/").content.decode()
    assert raw_key not in again
    assert f"{key.prefix}…" in again
    assert "production runner" in again


def test_a_new_key_never_sits_in_the_session_and_its_cookie_is_cleared_once_shown(
    owner_client, project
):
    _, html = created_from_settings(owner_client)
    raw_key = raw_key_on(html)

    assert owner_client.cookies["studio_new_key"].value == ""  # deleted by the page that showed it
    assert "new_key" not in owner_client.session
    with connection.cursor() as cursor:
        cursor.execute("SELECT session_data FROM django_session")
        sessions = [row[0] for row in cursor.fetchall()]
    assert sessions and not any(raw_key in s for s in sessions)
    assert not any("new_key" in owner_client.session.decode(s) for s in sessions)


def test_the_settings_page_lists_the_projects_keys_with_prefix_scopes_and_status(
    owner_client, project, other_project
):
    live, _ = apikey_create(project=project, scopes=["ingest"], name="runner")
    dead, _ = apikey_create(project=project, scopes=["read"], name="old dashboard")
    apikey_revoke(key=dead)
    theirs, _ = apikey_create(project=other_project, scopes=["read"], name="globex key")

    html = owner_client.get("/settings/").content.decode()

    assert f"{live.prefix}…" in html and f"{dead.prefix}…" in html
    assert theirs.prefix not in html and "globex key" not in html
    assert html.count('class="badge badge--revoked"') == 1
    assert html.count(f'action="/settings/keys/{live.id}/revoke/"') == 1
    assert f'action="/settings/keys/{dead.id}/revoke/"' not in html


def test_key_names_are_escaped(owner_client, project):
    apikey_create(project=project, scopes=["read"], name="<script>alert(1)</script>")

    html = owner_client.get("/settings/").content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# Using keys --------------------------------------------------------------------------------


def test_a_revoked_key_gets_401_naming_its_prefix(owner_client, project):
    key, raw_key = apikey_create(project=project, scopes=["ingest", "read"])
    assert with_key(raw_key).get(RUNS).status_code == 200

    response = owner_client.post(f"/settings/keys/{key.id}/revoke/", follow=True)

    assert f"Key {key.prefix}… was revoked" in response.content.decode()
    for answer in [with_key(raw_key).get(RUNS), ingest_one(with_key(raw_key))]:
        assert answer.status_code == 401
        assert answer.json() == {"error": f"API key {key.prefix}… was revoked"}


def test_a_read_key_cannot_ingest(project):
    key, raw_key = apikey_create(project=project, scopes=["read"])

    response = ingest_one(with_key(raw_key))

    assert response.status_code == 403
    assert response.json()["error"] == (
        f"API key {key.prefix}… lacks the 'ingest' scope (it has: read)"
    )


def test_an_ingest_key_cannot_read(project):
    _, raw_key = apikey_create(project=project, scopes=["ingest"])

    assert ingest_one(with_key(raw_key)).status_code == 202
    for path in [RUNS, "/api/v1/runs/run_1", "/api/v1/runs/run_1/events"]:
        response = with_key(raw_key).get(path)
        assert response.status_code == 403, path
        assert "lacks the 'read' scope" in response.json()["error"]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing Authorization header"),
        ("Basic dXNlcjpwYXNz", "must be 'Bearer <key>'"),
        ("Bearer ", "must be 'Bearer <key>'"),
        ("Bearer chs_not-a-real-key", "unknown API key"),
    ],
)
def test_missing_or_unknown_keys_get_401_saying_what_is_wrong(db, header, message):
    client = Client(headers={"Authorization": header} if header else {})

    response = client.get(RUNS)

    assert response.status_code == 401
    assert message in response.json()["error"]


def test_a_session_login_does_not_open_the_api(owner_client):
    assert owner_client.get(RUNS).status_code == 401


def test_last_used_is_set_on_first_use_and_not_rewritten_within_a_minute(project):
    key, raw_key = apikey_create(project=project, scopes=["read"])
    assert key.last_used_at is None

    with_key(raw_key).get(RUNS)
    key.refresh_from_db()
    first_use = key.last_used_at
    assert first_use is not None
    assert timezone.now() - first_use < timedelta(seconds=10)

    with_key(raw_key).get(RUNS)
    key.refresh_from_db()
    assert key.last_used_at == first_use


def test_last_used_moves_on_once_a_minute_has_passed(project):
    key, raw_key = apikey_create(project=project, scopes=["read"])
    long_ago = timezone.now() - timedelta(minutes=2)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=long_ago)

    with_key(raw_key).get(RUNS)

    key.refresh_from_db()
    assert key.last_used_at > long_ago + timedelta(minutes=1)


def test_using_a_recently_used_key_writes_nothing(project, django_assert_num_queries):
    from studio.apikeys import apikey_authenticate

    _, raw_key = apikey_create(project=project, scopes=["read"])
    apikey_authenticate(f"Bearer {raw_key}", "read")  # first use: one write

    with django_assert_num_queries(1):  # the lookup only, its project and organization with it
        key = apikey_authenticate(f"Bearer {raw_key}", "read")
        organization = key.project.organization
    assert key.project == project
    assert (organization.pk, organization.slug) == (
        project.organization.pk,
        project.organization.slug,
    )
    assert key.project.created_at == project.created_at  # a value as the ORM reads it
    assert key.scopes == ["read"] and key.last_used_at is not None


def test_failed_calls_do_not_count_as_use(project):
    key, raw_key = apikey_create(project=project, scopes=["ingest"])

    with_key(raw_key).get(RUNS)  # 403: lacks read

    key.refresh_from_db()
    assert key.last_used_at is None
