"""Every URL of Studio × everyone who may ask for it, with the answer each one gets.

The tables below hold one row per route and method, with the expected outcome for
each visitor; the first test walks Django's URL resolver, so a new route that no row
names fails here until someone decides who may open it.

Outcomes: a status code, or L (redirect to the login page), A (redirect to the admin
login page), R (any other redirect). Visitors: not signed in; each role in Acme; the
owner of Globex (another organization); a signed-in user of no organization. The
parameterised URLs name Acme's objects, so Globex's owner must get 404, never the
data: no answer to anyone outside Acme may contain Acme's marker text, and no refused
POST may change any of Acme's rows.
"""

import re

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from studio.tenancy import can
from tests.conftest import PASSWORD, ev
from tests.studio.access_world import MARKER, REVENUE_AMOUNT, WEBHOOK_PATH, acme_state

WHO = ("anonymous", "owner", "developer", "support", "finance", "viewer", "outsider", "stranger")
ACME = {"owner", "developer", "support", "finance", "viewer"}
REFUSED = {"L", "A", "401", "403", "404", "405", "410"}

RULE_FORM = {"name": "renamed rule", "threshold": "0.5", "window_minutes": "30", "min_runs": "5"}
PRICE_FORM = {"model_pattern": "sweep-model", "match": "exact", "effective_from": "2026-02-01",
              "input_per_m": "3", "output_per_m": "4"}  # fmt: skip

# fmt: off
#    method   path                                           anon own dev sup fin vwr oth none
PAGES = [
    ("GET",   "/",                                           "R   R   R   R   R   R   R   R"),
    ("GET",   "/login/",                                     "200 R   R   R   R   R   R   R"),
    ("POST",  "/login/",                                     "R   R   R   R   R   R   R   R",
     {"username": "acme-viewer", "password": PASSWORD}),
    ("GET",   "/logout/",                                    "405 405 405 405 405 405 405 405"),
    ("POST",  "/logout/",                                    "L   L   L   L   L   L   L   L"),
    ("GET",   "/switch/",                                    "405 405 405 405 405 405 405 405"),
    ("POST",  "/switch/",                                    "L   R   R   R   R   R   R   R",
     {"project": "{second_project}"}),
    ("GET",   "/healthz",                                    "200 200 200 200 200 200 200 200"),
    # Settings
    ("GET",   "/settings/",                                  "L   200 200 200 200 200 200 403"),
    ("GET",   "/settings/projects/",                         "405 405 405 405 405 405 405 405"),
    ("POST",  "/settings/projects/",                         "L   R   403 403 403 403 R   403",
     {"name": "Sweep project"}),
    ("GET",   "/settings/members/",                          "405 405 405 405 405 405 405 405"),
    ("POST",  "/settings/members/",                          "L   R   403 403 403 403 R   403",
     {"username": "newcomer", "role": "viewer", "password": PASSWORD}),
    ("GET",   "/settings/members/{membership}/delete/",      "405 405 405 405 405 405 405 405"),
    ("POST",  "/settings/members/{membership}/delete/",      "L   R   403 403 403 403 404 403"),
    ("GET",   "/settings/keys/",                             "405 405 405 405 405 405 405 405"),
    ("POST",  "/settings/keys/",                             "L   R   R   403 403 403 R   403",
     {"scopes": ["read"], "name": "sweep"}),
    ("GET",   "/settings/keys/{key}/revoke/",                "405 405 405 405 405 405 405 405"),
    ("POST",  "/settings/keys/{key}/revoke/",                "L   R   R   403 403 403 404 403"),
    ("GET",   "/settings/redaction/",                        "405 405 405 405 405 405 405 405"),
    ("POST",  "/settings/redaction/",                        "L   R   403 403 403 403 R   403",
     {"patterns": r"ORDER-\d+"}),
    ("GET",   "/settings/retention/",                        "405 405 405 405 405 405 405 405"),
    ("POST",  "/settings/retention/",                        "L   R   403 403 403 403 R   403",
     {"days": "30"}),
    # The link was made by Acme's developer: its maker and owners may end it.
    ("GET",   "/settings/shares/{share}/revoke/",            "405 405 405 405 405 405 405 405"),
    ("POST",  "/settings/shares/{share}/revoke/",            "L   R   R   403 403 403 404 403"),
    ("GET",   "/settings/prices/",                           "L   200 200 200 200 403 200 403"),
    ("POST",  "/settings/prices/",                           "L   R   403 403 403 403 R   403",
     PRICE_FORM),
    ("GET",   "/settings/prices/{price}/",                   "L   200 403 403 403 403 404 403"),
    ("POST",  "/settings/prices/{price}/",                   "L   R   403 403 403 403 404 403",
     {**PRICE_FORM, "input_per_m": "9"}),
    ("GET",   "/settings/prices/tools/{tool_price}/delete/", "405 405 405 405 405 405 405 405"),
    ("POST",  "/settings/prices/tools/{tool_price}/delete/", "L   R   403 403 403 403 404 403"),
    # Alerts (the refunds rule is finance data: a developer does not see it)
    ("GET",   "/alerts/",                                    "L   200 200 200 200 403 200 403"),
    ("GET",   "/alerts/rules/",                              "405 405 405 405 405 405 405 405"),
    ("POST",  "/alerts/rules/",                              "L   R   R   403 403 403 R   403",
     {"kind": "failure_rate", "name": "sweep rule"}),
    ("GET",   "/alerts/rules/{rule}/",                       "L   200 200 403 403 403 404 403"),
    ("POST",  "/alerts/rules/{rule}/",                       "L   R   R   403 403 403 404 403",
     RULE_FORM),
    ("GET",   "/alerts/rules/{refunds_rule}/",               "L   200 404 403 403 403 404 403"),
    ("POST",  "/alerts/rules/{refunds_rule}/",               "L   R   404 403 403 403 404 403",
     RULE_FORM),
    ("GET",   "/alerts/rules/{rule}/mute/",                  "405 405 405 405 405 405 405 405"),
    ("POST",  "/alerts/rules/{rule}/mute/",                  "L   R   R   403 403 403 404 403",
     {"for": "1h"}),
    ("GET",   "/alerts/rules/{rule}/unmute/",                "405 405 405 405 405 405 405 405"),
    ("POST",  "/alerts/rules/{rule}/unmute/",                "L   R   R   403 403 403 404 403"),
    ("GET",   "/alerts/rules/{rule}/toggle/",                "405 405 405 405 405 405 405 405"),
    ("POST",  "/alerts/rules/{rule}/toggle/",                "L   R   R   403 403 403 404 403"),
    ("GET",   "/alerts/rules/{rule}/delete/",                "405 405 405 405 405 405 405 405"),
    ("POST",  "/alerts/rules/{rule}/delete/",                "L   R   R   403 403 403 404 403"),
    ("GET",   "/alerts/channels/",                           "405 405 405 405 405 405 405 405"),
    ("POST",  "/alerts/channels/",                           "L   R   R   403 403 403 R   403",
     {"type": "email", "target": "sweep@example.com"}),
    ("GET",   "/alerts/channels/{channel}/test/",            "405 405 405 405 405 405 405 405"),
    ("POST",  "/alerts/channels/{channel}/test/",            "L   R   R   403 403 403 404 403"),
    ("GET",   "/alerts/channels/{channel}/delete/",          "405 405 405 405 405 405 405 405"),
    ("POST",  "/alerts/channels/{channel}/delete/",          "L   R   R   403 403 403 404 403"),
    # Runs, debugging, errors
    ("GET",   "/runs/",                                      "L   200 200 200 200 200 200 403"),
    ("GET",   "/runs/compare/?a={run}",                      "L   200 200 200 200 200 404 403"),
    ("GET",   "/runs/health/",                               "L   200 200 200 200 200 200 403"),
    ("GET",   "/runs/health/batches/{batch}/retry/",         "405 405 405 405 405 405 405 405"),
    ("POST",  "/runs/health/batches/{batch}/retry/",         "L   R   R   403 403 403 404 403"),
    ("GET",   "/runs/{run}/",                                "L   200 200 200 200 200 404 403"),
    ("GET",   "/runs/{run}/checklist/",                      "L   200 200 200 200 200 404 403"),
    ("GET",   "/runs/{run}/live",                            "401 200 200 200 200 200 404 403"),
    ("GET",   "/runs/{run}/share/",                          "405 405 405 405 405 405 405 405"),
    ("POST",  "/runs/{run}/share/",                          "L   200 200 200 200 200 404 403",
     {"hours": "24"}),
    ("GET",   "/errors/",                                    "L   200 200 200 200 200 200 403"),
    ("GET",   "/errors/{group}/",                            "L   200 200 200 200 200 404 403"),
    # Usage and revenue
    ("GET",   "/usage/",                                     "L   200 200 200 200 403 200 403"),
    ("GET",   "/revenue/",                                   "L   200 403 403 200 403 200 403"),
    ("GET",   "/revenue/export.csv",                         "L   200 403 403 200 403 200 403"),
    # Shared run pages need no login: anyone with the link sees the (redacted) run.
    ("GET",   "/share/{token}/",                             "200 200 200 200 200 200 200 200"),
    ("GET",   "/share/{revoked_token}/",                     "410 410 410 410 410 410 410 410"),
]
# fmt: on

# Pages anyone may see whole; the marker check does not apply to them.
PUBLIC = {"/share/{token}/"}
# POSTs whose success changes no row of Acme (only the session).
SESSION_ONLY = {"/login/", "/logout/", "/switch/"}

# The HTTP API: keys, never sessions. Columns: no key; a key that does not exist; a
# revoked key; Globex's key; a key of Acme's other project; a key without the
# route's scope; Acme's key; Acme's owner signed in, with no key.
KEYS = ("none", "wrong", "revoked", "other_org", "other_project", "wrong_scope", "right",
        "session")  # fmt: skip
OTLP = {"resourceSpans": []}

# fmt: off
#    method   path                                            none bad rev org prj scp key sess
API = [
    ("POST",  "/api/v1/ingest",                              "401 401 401 202 202 403 202 401"),
    ("GET",   "/api/v1/ingest",                              "405 405 405 405 405 405 405 405"),
    ("POST",  "/api/v1/validations",                         "401 401 401 201 201 403 201 401"),
    ("GET",   "/api/v1/validations",                         "405 405 405 405 405 405 405 405"),
    ("POST",  "/api/v1/otlp/v1/traces",                      "401 401 401 200 200 403 200 401"),
    ("GET",   "/api/v1/otlp/v1/traces",                      "405 405 405 405 405 405 405 405"),
    ("POST",  "/v1/traces",                                  "401 401 401 200 200 403 200 401"),
    ("GET",   "/v1/traces",                                  "405 405 405 405 405 405 405 405"),
    ("GET",   "/api/v1/runs",                                "401 401 401 200 200 403 200 401"),
    ("GET",   "/api/v1/runs/{run}",                          "401 401 401 404 404 403 200 401"),
    ("GET",   "/api/v1/runs/{run}/events",                   "401 401 401 404 404 403 200 401"),
    ("GET",   "/api/v1/openapi.json",                        "200 200 200 200 200 200 200 200"),
]
# fmt: on

# The admin is Django's, for staff only: members of organizations are not staff.
# Its login page opens for anyone; its logout sends non-staff back to the admin index.
ADMIN_PUBLIC = {"admin/login/": "200", "admin/logout/": "R"}


def outcome(response) -> str:
    if response.status_code == 302:
        location = response["Location"]
        if location.startswith("/login/"):
            return "L"
        if location.startswith("/admin/login/"):
            return "A"
        return "R"
    return str(response.status_code)


def body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def _shows_revenue(text: str) -> bool:
    whole, cents = REVENUE_AMOUNT.split(".")
    return any(f"{shown}.{cents}" in text for shown in (whole, f"{int(whole):,}"))


def url_patterns(resolver: URLResolver | None = None, prefix: str = ""):
    """(route, pattern) for every URL Django serves, the route as `ResolverMatch.route`
    names it."""
    for pattern in (resolver or get_resolver()).url_patterns:
        route = prefix + str(pattern.pattern).removeprefix("^") if prefix else str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from url_patterns(pattern, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern


def all_routes() -> set[str]:
    return {route for route, _ in url_patterns()}


def admin_paths() -> dict[str, str]:
    """An example path for each admin route, by route."""
    paths = {}
    for route in all_routes():
        if not route.startswith("admin/"):
            continue
        if "(?P<app_label>" in route:
            path = "/admin/studio/"
        elif "(?P<url>" in route:
            path = "/admin/no-such-page/"
        else:
            path = "/" + re.sub(r"<[^>]+>", "1", route)
        paths[route] = path
    return paths


def route_of(path: str) -> str:
    return resolve(path.split("?")[0]).route


def fill(template, ids: dict):
    if isinstance(template, str):
        return template.format(**ids)
    if isinstance(template, list):
        return [fill(item, ids) for item in template]
    return {name: fill(value, ids) for name, value in template.items()}


# Completeness ------------------------------------------------------------------------------


def test_every_route_has_a_row(world):
    ids = world.acme.ids
    covered = {route_of(fill(row[1], ids)) for row in PAGES + API} | set(admin_paths())

    missing = all_routes() - covered
    assert not missing, f"routes no row of the access tables names: {sorted(missing)}"


def test_every_route_that_takes_a_post_has_a_post_row(world, db):
    """A route with GET rows only must refuse POST (405): else it needs POST rows."""
    ids = world.acme.ids
    rows = PAGES + API
    posted = {route_of(fill(row[1], ids)) for row in rows if row[0] == "POST"}
    unposted = {route_of(fill(row[1], ids)): fill(row[1], ids) for row in rows if row[0] == "GET"}
    problems = []
    for route, path in sorted(unposted.items()):
        if route in posted or route == "":  # "" is the redirect from / to the runs list
            continue
        for who in ("owner", "anonymous"):
            with transaction.atomic():
                got = outcome(world.client(who).post(path))
                transaction.set_rollback(True)
            if got != "405":
                problems.append(f"POST {path} as {who}: {got}, and no POST row")
    assert not problems, problems


# Pages -------------------------------------------------------------------------------------


def _ask(world, who: str, method: str, path: str, data: dict | None):
    client = world.client(who)
    if method == "GET":
        return client.get(path)
    return client.post(path, data or {})


@pytest.mark.parametrize(
    "method,path,expected,data",
    [(*row, None) if len(row) == 3 else row for row in PAGES],
    ids=[f"{row[0]} {row[1]}" for row in PAGES],
)
def test_page(world, db, method, path, expected, data):
    ids = world.acme.ids
    url, form = fill(path, ids), fill(data or {}, ids)
    got, problems = {}, []
    for who, want in zip(WHO, expected.split(), strict=True):
        with transaction.atomic():
            before = acme_state(world.acme) if method == "POST" else None
            response = _ask(world, who, method, url, form)
            got[who] = outcome(response)
            text = body(response)
            if who not in ACME and path not in PUBLIC and MARKER in text.lower():
                problems.append(f"{who} was shown Acme's data")
            if who in ACME and not can(who, "view_revenue") and _shows_revenue(text):
                problems.append(f"{who} was shown the run's revenue")
            if who in ACME and not can(who, "manage_alerts") and WEBHOOK_PATH in text:
                problems.append(f"{who} was shown a webhook's URL")
            if method == "POST":
                changed = acme_state(world.acme) != before
                if changed and (who not in ACME or got[who] in REFUSED):
                    problems.append(f"{who}'s POST ({got[who]}) changed Acme's rows")
                effective = who in ACME and got[who] not in REFUSED and path not in SESSION_ONLY
                if effective and not changed:
                    problems.append(f"{who}'s POST ({got[who]}) changed nothing")
            transaction.set_rollback(True)
        if got[who] != want:
            problems.append(f"{who}: expected {want}, got {got[who]}")
    assert not problems, f"{method} {url}: {problems}"


# The admin ---------------------------------------------------------------------------------


def test_the_admin_is_closed_to_everyone_but_staff(world, db):
    problems = []
    for route, path in sorted(admin_paths().items()):
        want = ADMIN_PUBLIC.get(route, "A")
        for who in WHO:
            response = world.client(who).get(path)
            got = outcome(response)
            if got != want:
                problems.append(f"{who} GET {path}: expected {want}, got {got}")
            if MARKER in body(response).lower():
                problems.append(f"{who} GET {path}: shown Acme's data")
    assert not problems, problems


# The API -----------------------------------------------------------------------------------


def _api_request(world, column: str, method: str, path: str):
    acme = world.acme
    raw = {
        "none": None,
        "wrong": "chs_" + "x" * 43,
        "revoked": acme.keys["revoked"],
        "other_org": world.globex.keys["right"],
        "other_project": acme.keys["other_project"],
        "wrong_scope": acme.keys["read_only" if method == "POST" else "ingest_only"],
        "right": acme.keys["right"],
        "session": None,
    }[column]
    headers = {"Authorization": f"Bearer {raw}"} if raw else {}
    client = world.client("owner" if column == "session" else "anonymous", headers=headers)
    if method == "GET":
        return client.get(path)
    if path == "/api/v1/validations":
        return client.post(
            path,
            "✓ 3 checks passed\n",
            content_type="text/plain",
            headers={"X-Charm-Agent": "sweep-agent"},
        )
    if path.endswith("/traces"):
        return client.post(path, OTLP, content_type="application/json")
    return client.post(path, ev("run_start", "sweep-run"), content_type="application/json")


@pytest.mark.parametrize(
    "method,path,expected", API, ids=[f"{method} {path}" for method, path, _ in API]
)
def test_api(world, db, method, path, expected):
    url = fill(path, world.acme.ids)
    problems = []
    for column, want in zip(KEYS, expected.split(), strict=True):
        with transaction.atomic():
            # Writes with the other project's key land in that project, not this one.
            before = acme_state(world.acme, world.acme.project)
            response = _api_request(world, column, method, url)
            got = outcome(response)
            changed = acme_state(world.acme, world.acme.project) != before
            if column != "right" and MARKER in body(response).lower():
                problems.append(f"{column}: shown Acme's data")
            if changed and column != "right":
                problems.append(f"{column} ({got}) changed Acme's rows")
            if not changed and column == "right" and method == "POST":
                problems.append(f"{column} ({got}) stored nothing")
            transaction.set_rollback(True)
        if got != want:
            problems.append(f"{column}: expected {want}, got {got}: {body(response)[:120]}")
    assert not problems, f"{method} {url}: {problems}"


# Projects of one organization --------------------------------------------------------------


def test_a_member_sees_only_the_objects_of_the_project_they_work_in(world, db):
    """With Acme's other project chosen, the first project's objects are not found."""
    client = world.client("owner")
    client.post("/switch/", {"project": world.acme.ids["second_project"]})
    ids = world.acme.ids
    for path in ("/runs/{run}/", "/runs/{run}/checklist/", "/errors/{group}/",
                 "/alerts/rules/{rule}/", "/runs/compare/?a={run}"):  # fmt: skip
        assert client.get(fill(path, ids)).status_code == 404, path
    for path in ("/runs/health/batches/{batch}/retry/", "/alerts/rules/{rule}/toggle/",
                 "/alerts/channels/{channel}/delete/", "/runs/{run}/share/"):  # fmt: skip
        assert client.post(fill(path, ids)).status_code == 404, path


def test_switching_to_another_organizations_project_is_ignored(world, db):
    client = world.client("outsider")
    response = client.post("/switch/", {"org": world.acme.org.pk, "project": world.acme.project.pk})

    assert outcome(response) == "R"
    page = client.get("/runs/")
    assert page.context["request"].org == world.globex.org
    assert MARKER not in page.content.decode().lower()


# Ids inside forms, and changes of membership -----------------------------------------------


def test_a_rule_form_cannot_attach_another_organizations_channel(world, db):
    from alerts.models import Rule

    globex_channel, acme_channel = world.globex.ids["channel"], world.acme.ids["channel"]
    form = {**RULE_FORM, "channels": [globex_channel, acme_channel]}
    client = world.client("owner")

    created = client.post("/alerts/rules/", {"kind": "failure_rate", **form})
    edited = client.post(fill("/alerts/rules/{rule}/", world.acme.ids), form)

    assert outcome(created) == outcome(edited) == "R"
    attached = set(
        Rule.objects.filter(project=world.acme.project).values_list("channels", flat=True)
    )
    assert globex_channel not in attached and acme_channel in attached


def test_a_developer_cannot_make_a_refunds_rule(world, db):
    from alerts.models import Rule

    before = Rule.objects.filter(kind="refunds").count()
    response = world.client("developer").post("/alerts/rules/", {"kind": "refunds"})

    assert outcome(response) == "R"
    assert Rule.objects.filter(kind="refunds").count() == before


def test_a_removed_member_loses_access_on_their_next_request(world, db):
    viewer = world.client("viewer")
    assert viewer.get("/runs/").status_code == 200

    world.client("owner").post(fill("/settings/members/{membership}/delete/", world.acme.ids))

    assert viewer.get("/runs/").status_code == 403
    assert viewer.get(fill("/runs/{run}/", world.acme.ids)).status_code == 403


def test_a_changed_role_applies_on_the_next_request(world, db):
    developer = world.client("developer")
    assert developer.get("/usage/").status_code == 200

    world.client("owner").post(
        "/settings/members/", {"username": "acme-developer", "role": "viewer"}
    )

    assert developer.get("/usage/").status_code == 403
    assert developer.post("/settings/keys/", {"scopes": ["read"]}).status_code == 403


@pytest.mark.parametrize("role,full", [("owner", True), ("developer", True), ("support", False),
                                       ("finance", False)])  # fmt: skip
def test_webhook_urls_show_whole_only_to_members_who_edit_alerts(world, db, role, full):
    html = world.client(role).get("/alerts/").content.decode()

    assert (WEBHOOK_PATH in html) is full
    assert "http://127.0.0.1/…" in html or full  # the site, to tell channels apart


# The partials htmx asks for: the same answer, and nothing more, as the whole page.
# The run page (and the shared page, its same view) answers by HX-Target; others by
# HX-Request alone.
RUN_TARGETS = ["", "detail-pane", "logs", "rows-more", "timeline"]


@pytest.mark.parametrize("who", ["developer", "viewer", "outsider", "anonymous"])
def test_htmx_partials_answer_as_their_pages_do(world, db, who):
    ids, problems = world.acme.ids, []
    for method, path, expected, *_ in PAGES:
        if method != "GET":
            continue
        want = expected.split()[WHO.index(who)]
        for target in RUN_TARGETS if path in ("/runs/{run}/", "/share/{token}/") else [""]:
            headers = {"HX-Request": "true", **({"HX-Target": target} if target else {})}
            query = "&" if "?" in path else "?"
            url = fill(path, ids) + (f"{query}item=error:x&tab=logs" if target else "")
            response = world.client(who).get(url, headers=headers)
            got, text = outcome(response), body(response)
            if got != want:
                problems.append(f"{path} [{target}]: expected {want}, got {got}")
            if who not in ACME and path not in PUBLIC and MARKER in text.lower():
                problems.append(f"{path} [{target}]: shown Acme's data")
            if who in ACME and not can(who, "view_revenue") and _shows_revenue(text):
                problems.append(f"{path} [{target}]: shown the run's revenue")
    assert not problems, problems
