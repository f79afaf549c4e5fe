"""Production security settings: what DEBUG=0 turns on, and `check --deploy` passing."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "studio.example.com",
    "SECURE_SSL_REDIRECT": "1",
}
NAMES = [
    "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY",
    "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY", "X_FRAME_OPTIONS", "SECURE_SSL_REDIRECT",
]  # fmt: skip


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    # Only what a deployment would have: the test process's own variables (such as the
    # browser tests' DJANGO_ALLOW_ASYNC_UNSAFE) would be findings of their own.
    environ = {
        k: os.environ[k] for k in ("PATH", "HOME", "DATABASE_URL", "REDIS_URL") if k in os.environ
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=environ | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _settings(**env: str) -> dict:
    script = (
        "import django, json; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {NAMES!r}}}))"
    )
    done = _run(["-c", script], DJANGO_SETTINGS_MODULE="studio.settings", **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_manage_py_check_deploy_is_clean_in_production():
    done = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION)

    assert done.returncode == 0, done.stderr
    assert "no issues" in done.stdout


def test_check_deploy_names_a_weak_secret_key():
    done = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        **PRODUCTION | {"SECRET_KEY": "short"},
    )

    assert done.returncode == 1
    assert "security.W009" in done.stderr


def test_production_cookies_are_secure_and_http_only_with_a_year_of_hsts():
    values = _settings(**PRODUCTION)

    assert values["SESSION_COOKIE_SECURE"] is values["CSRF_COOKIE_SECURE"] is True
    assert values["SESSION_COOKIE_HTTPONLY"] is True
    assert values["SECURE_HSTS_SECONDS"] == 31_536_000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert values["SECURE_REFERRER_POLICY"] == "same-origin"
    assert values["X_FRAME_OPTIONS"] == "DENY"


def test_secure_cookies_off_turns_off_both_cookies_and_hsts():
    values = _settings(**PRODUCTION | {"SECURE_COOKIES": "0"})

    assert values["SESSION_COOKIE_SECURE"] is values["CSRF_COOKIE_SECURE"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0


def test_hsts_seconds_come_from_the_environment():
    assert _settings(**PRODUCTION | {"SECURE_HSTS_SECONDS": "3600"})["SECURE_HSTS_SECONDS"] == 3600


@pytest.mark.django_db
def test_an_https_response_carries_the_security_headers(client, settings):
    settings.SECURE_HSTS_SECONDS = 31_536_000

    response = client.get("/login/", secure=True)

    assert response.headers["Strict-Transport-Security"] == ("max-age=31536000; includeSubDomains")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    csrf_cookie = response.cookies[settings.CSRF_COOKIE_NAME]
    assert csrf_cookie["secure"] is True


@pytest.mark.django_db
def test_the_session_cookie_is_secure_and_hidden_from_scripts(client, owner, settings):
    from tests.conftest import PASSWORD

    response = client.post(
        "/login/", {"username": owner.username, "password": PASSWORD}, secure=True
    )

    assert response.status_code == 302
    session_cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session_cookie["secure"] is True
    assert session_cookie["httponly"] is True


def test_health_checks_over_http_are_not_redirected(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/healthz").status_code == 200
    assert client.get("/runs/").status_code == 301
