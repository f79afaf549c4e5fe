"""CSRF on every form: each page that can change something, rendered for a member who
may use all of it, sends a CSRF token with every POST form and every htmx request
that changes data; the token it sends is accepted; and a POST to any state-changing
page route without the token is refused with 403 and changes nothing."""

from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from django.db import transaction

from tests.studio.access_world import acme_state
from tests.studio.test_access_sweep import PAGES, fill, route_of, url_patterns

HX_WRITES = ("hx-post", "hx-put", "hx-patch", "hx-delete")
CSRF_FAILED = "Studio refused this form"  # templates/studio/csrf_failure.html


@dataclass
class Form:
    action: str
    fields: dict = field(default_factory=dict)  # hidden inputs, the token among them
    hx: str = ""  # the htmx attribute that sends it, if any


@dataclass
class HxWrite:
    url: str
    token_header: str  # the X-CSRFToken an enclosing hx-headers sets, "" if none


class _Page(HTMLParser):
    """The POST forms of a page and its elements that send htmx writes."""

    def __init__(self, page_path: str) -> None:
        super().__init__()
        self.page_path = page_path
        self.forms: list[Form] = []
        self.hx_writes: list[HxWrite] = []
        self.other_methods: list[str] = []  # forms with a method that is neither get nor post
        self._open: list[tuple[str, Form | None, str]] = []  # tag, form, token header

    def handle_starttag(self, tag, attrs):
        attrs = {name: value or "" for name, value in attrs}
        header = self._open[-1][2] if self._open else ""
        if "hx-headers" in attrs:
            header = _json_token(attrs["hx-headers"]) or header
        form = self._open[-1][1] if self._open else None
        if tag == "form":
            method = attrs.get("method", "get").lower()
            if method == "post":
                form = Form(action=attrs.get("action") or self.page_path)
                self.forms.append(form)
            elif method != "get":
                self.other_methods.append(method)
        if tag == "input" and form is not None and attrs.get("type") == "hidden":
            form.fields[attrs.get("name", "")] = attrs.get("value", "")
        for name in HX_WRITES:
            if name in attrs:
                self.hx_writes.append(HxWrite(url=attrs[name] or self.page_path,
                                              token_header=header))  # fmt: skip
                if tag == "form" and form is not None:
                    form.hx = name
        if tag not in VOID:
            self._open.append((tag, form, header))

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()[0] == tag:
                break


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "source", "track", "wbr"}  # fmt: skip


def _json_token(value: str) -> str:
    import json

    try:
        return str(json.loads(value).get("X-CSRFToken") or "")
    except (ValueError, AttributeError):
        return ""


# Every page a member opens, as the owner (who may use every form), and the login
# page as a visitor.
PAGES_SEEN = [("owner", row[1]) for row in PAGES if row[0] == "GET" and row[2].split()[1] == "200"]
PAGES_SEEN += [("anonymous", "/login/"), ("anonymous", "/admin/login/")]
STATE_CHANGING = sorted({row[1] for row in PAGES if row[0] == "POST"})
POST_DATA = {row[1]: row[3] for row in PAGES if row[0] == "POST" and len(row) > 3}


def _render(world, who: str, path: str):
    client = world.client(who, enforce_csrf_checks=True)
    response = client.get(fill(path, world.acme.ids))
    assert response.status_code == 200, path
    page = _Page(response.wsgi_request.path)
    if "html" in response.get("Content-Type", ""):
        page.feed(response.content.decode())
    return client, page


def test_every_post_form_and_htmx_write_carries_a_csrf_token(world, db):
    problems, posted_routes = [], set()
    for who, path in PAGES_SEEN:
        _, page = _render(world, who, path)
        for form in page.forms:
            posted_routes.add(route_of(form.action))
            if not form.fields.get("csrfmiddlewaretoken"):
                problems.append(f"{path}: the form to {form.action} has no CSRF token")
        for write in page.hx_writes:
            posted_routes.add(route_of(write.url))
            if not write.token_header:
                problems.append(f"{path}: htmx write to {write.url} sends no X-CSRFToken")
        problems += [f"{path}: a form with method={m}" for m in page.other_methods]
    assert not problems, problems
    # Every state-changing page route was seen as a form's target: none escaped the check.
    unseen = {route_of(fill(path, world.acme.ids)) for path in STATE_CHANGING} - posted_routes
    assert not unseen, f"no page holds a form for: {sorted(unseen)}"


@pytest.mark.parametrize("who,path", PAGES_SEEN, ids=[path for _, path in PAGES_SEEN])
def test_the_token_a_page_sends_is_accepted(world, db, who, path):
    client, page = _render(world, who, path)
    problems = []
    for form in page.forms:
        with transaction.atomic():
            response = client.post(form.action, form.fields)
            transaction.set_rollback(True)
        if response.status_code == 403:
            problems.append(f"form to {form.action}: 403 {response.content[:80]!r}")
    for write in page.hx_writes:
        with transaction.atomic():
            response = client.post(
                write.url, headers={"X-CSRFToken": write.token_header, "HX-Request": "true"}
            )
            transaction.set_rollback(True)
        if response.status_code == 403:
            problems.append(f"htmx write to {write.url}: 403 {response.content[:80]!r}")
    assert not problems, f"{path}: {problems}"


@pytest.mark.parametrize("path", STATE_CHANGING)
@pytest.mark.parametrize("who", ["owner", "anonymous"])
def test_a_post_without_the_token_is_refused(world, db, who, path):
    client = world.client(who, enforce_csrf_checks=True)
    client.get("/login/" if who == "anonymous" else "/settings/")  # the browser has the cookie
    assert client.cookies.get("csrftoken"), "no CSRF cookie was set"
    url = fill(path, world.acme.ids)
    data = POST_DATA.get(path, {})
    with transaction.atomic():
        before = acme_state(world.acme)
        response = client.post(url, fill(data, world.acme.ids))
        after = acme_state(world.acme)
        transaction.set_rollback(True)

    assert response.status_code == 403, f"{who} POST {url}: {response.status_code}"
    assert CSRF_FAILED in response.content.decode()
    assert after == before


API_WRITES = ["/api/v1/ingest", "/api/v1/validations", "/api/v1/otlp/v1/traces", "/v1/traces"]


@pytest.mark.parametrize("path", API_WRITES)
def test_api_writes_need_no_csrf_token_because_cookies_do_not_authenticate_them(world, db, path):
    """The API is exempt from CSRF: a signed-in browser's cookies get it nothing."""
    client = world.client("owner", enforce_csrf_checks=True)
    with transaction.atomic():
        before = acme_state(world.acme)
        response = client.post(path, "{}", content_type="application/json")
        after = acme_state(world.acme)
        transaction.set_rollback(True)

    assert response.status_code == 401
    assert after == before


# Read-only endpoints are exempt too, so a POST gets their 405 rather than a CSRF page.
API_READS = [
    "/api/v1/runs", "/api/v1/runs/<api_run_id:run_id>", "/api/v1/runs/<api_run_id:run_id>/events",
    "/api/v1/openapi.json", "/healthz",
]  # fmt: skip


def test_only_key_authenticated_writes_and_read_only_endpoints_are_exempt_from_csrf(client):
    exempt = {
        "/" + route
        for route, pattern in url_patterns()
        if getattr(pattern.callback, "csrf_exempt", False)
    }
    assert exempt == set(API_WRITES) | set(API_READS)
    for path in API_READS:
        url = path.replace("<api_run_id:run_id>", "r1")
        assert client.post(url).status_code == 405, f"{url} takes a POST"
