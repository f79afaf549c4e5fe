"""Signing in with Secure-only cookies over plain http: the pages say what to set."""

import pytest
from django.test import Client

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
NOTICE = "served over http but its cookies are secure-only"


def test_the_login_page_over_http_with_secure_cookies_says_what_to_set(client, settings):
    settings.SESSION_COOKIE_SECURE = True

    page = client.get("/login/").content.decode()

    assert NOTICE in page
    assert "SECURE_COOKIES=0" in page and "https" in page


@pytest.mark.parametrize(
    ("secure_cookies", "https", "host"),
    [(True, True, "testserver"), (False, False, "testserver"), (True, False, "localhost:8000")],
)
def test_no_notice_where_signing_in_works(client, settings, secure_cookies, https, host):
    settings.SESSION_COOKIE_SECURE = secure_cookies

    page = client.get("/login/", secure=https, headers={"host": host}).content.decode()

    assert NOTICE not in page
    assert 'name="password"' in page


def test_a_login_refused_for_its_dropped_cookie_explains_the_cause(settings, owner):
    settings.SESSION_COOKIE_SECURE = True
    # A browser on an http page does not send back the Secure CSRF cookie: no cookie here.
    browser = Client(enforce_csrf_checks=True)

    response = browser.post("/login/", {"username": owner.username, "password": PASSWORD})

    assert response.status_code == 403
    page = response.content.decode()
    assert "Studio refused this form" in page
    assert NOTICE in page and "SECURE_COOKIES=0" in page
    assert "_auth_user_id" not in browser.session


def test_a_form_from_an_unknown_origin_names_csrf_trusted_origins(settings, owner):
    browser = Client(enforce_csrf_checks=True)
    browser.get("/login/", secure=True)  # sets the CSRF cookie
    token = browser.cookies[settings.CSRF_COOKIE_NAME].value

    response = browser.post(
        "/login/",
        {"username": owner.username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        secure=True,
        headers={"origin": "https://studio.internal.example"},
    )

    assert response.status_code == 403
    page = response.content.decode()
    assert "CSRF_TRUSTED_ORIGINS=https://studio.internal.example" in page
    assert NOTICE not in page


def test_a_stale_token_over_https_says_to_reload(settings, owner):
    browser = Client(enforce_csrf_checks=True)
    browser.get("/login/", secure=True)

    response = browser.post(
        "/login/",
        {"username": owner.username, "password": PASSWORD, "csrfmiddlewaretoken": "x" * 64},
        secure=True,
        headers={"origin": "https://testserver"},
    )

    assert response.status_code == 403
    assert "Reload the page and send it again" in response.content.decode()


def test_an_origin_shown_on_the_refusal_page_is_escaped(settings):
    browser = Client(enforce_csrf_checks=True)
    browser.get("/login/", secure=True)

    response = browser.post(
        "/login/", {}, secure=True, headers={"origin": "https://<b>x</b>.example"}
    )

    assert response.status_code == 403
    assert b"<b>x</b>" not in response.content
