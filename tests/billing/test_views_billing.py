"""The billing pages through HTTP: who may see what (pages, htmx partials and the CSV
alike), what the pages show, escaping, and bounded query counts."""

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import ModelPrice
from billing.selectors import RevenueFilters, revenue_events_page
from billing.services import PriceData, price_create
from tests.billing.conftest import money
from tests.conftest import T0, apply_now, ev, login

HX = {"HTTP_HX_REQUEST": "true"}


def hours_ago(hours: float) -> float:
    """An `at` for `ev` that many hours before now (the usage page looks back from now)."""
    return (timezone.now() - T0).total_seconds() - hours * 3600


def recent_run(run_id: str, *, agent: str = "invoice-bot", model: str = "gpt-4o",
               hours: float = 2, **usage) -> list[dict]:  # fmt: skip
    at = hours_ago(hours)
    return [
        ev("run_start", run_id, at=at, seq=0, agent=agent, environment="cloud"),
        ev("usage", run_id, at=at + 1, seq=1, agent=agent, model=model, call_id="c1",
           **({"input_tokens": 1000, "output_tokens": 200} | usage)),
        ev("run_end", run_id, at=at + 2, seq=2, agent=agent, outputs={}),
    ]  # fmt: skip


@pytest.fixture
def acme_price(org):
    data = PriceData(model_pattern="in-house-7b", match="exact", effective_from=date(2026, 1, 1),
                     input_per_m=Decimal("0.10"), output_per_m=Decimal("0.20"))  # fmt: skip
    return price_create(organization=org, data=data)


@pytest.fixture
def clients(owner, make_member, outsider):
    users = {"owner": owner, "outsider": outsider}
    for role in ("developer", "support", "finance", "viewer"):
        users[role] = make_member(role)
    return {role: login(user) for role, user in users.items()}


def new_price(pattern: str) -> dict:
    return {"model_pattern": pattern, "match": "exact", "effective_from": "2026-11-01",
            "input_per_m": "0.10", "output_per_m": "0.20"}  # fmt: skip


# ── Roles ─────────────────────────────────────────────────────────────────────────

ROLES = ("owner", "developer", "support", "finance", "viewer", "outsider")
OK, NO, GONE, MOVED = 200, 403, 404, 302
MATRIX = {
    # request:                 owner  dev   support finance viewer outsider
    "usage page":               (OK,   OK,   OK,    OK,     NO,    OK),
    "usage partial":            (OK,   OK,   OK,    OK,     NO,    OK),
    "revenue page":             (OK,   NO,   NO,    OK,     NO,    OK),
    "revenue partial":          (OK,   NO,   NO,    OK,     NO,    OK),
    "revenue more rows":        (OK,   NO,   NO,    OK,     NO,    OK),
    "revenue csv":              (OK,   NO,   NO,    OK,     NO,    OK),
    "prices page":              (OK,   OK,   OK,    OK,     NO,    OK),
    "price add":                (MOVED, NO,  NO,    NO,     NO,    MOVED),
    "price edit page":          (OK,   NO,   NO,    NO,     NO,    GONE),
    "price edit":               (MOVED, NO,  NO,    NO,     NO,    GONE),
}  # fmt: skip


def send(client, name: str, *, price: ModelPrice, cursor: str):
    edit = f"/settings/prices/{price.pk}/"
    return {
        "usage page": lambda: client.get("/usage/"),
        "usage partial": lambda: client.get("/usage/?range=24h&group=agent", **HX),
        "revenue page": lambda: client.get("/revenue/"),
        "revenue partial": lambda: client.get("/revenue/?range=all&currency=USD", **HX),
        "revenue more rows": lambda: client.get(f"/revenue/?range=all&cursor={cursor}", **HX),
        "revenue csv": lambda: client.get("/revenue/export.csv?range=all"),
        "prices page": lambda: client.get("/settings/prices/"),
        "price add": lambda: client.post("/settings/prices/", new_price("added-model")),
        "price edit page": lambda: client.get(edit),
        "price edit": lambda: client.post(edit, new_price("in-house-7b")),
    }[name]()


@pytest.mark.parametrize("name", list(MATRIX))
@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(clients, project, revenue_book, acme_price, name, role):
    filters = RevenueFilters.from_params({"range": "all"})
    cursor = revenue_events_page(project=project, filters=filters, limit=2).next_cursor

    response = send(clients[role], name, price=acme_price, cursor=cursor)

    assert response.status_code == MATRIX[name][ROLES.index(role)]
    if response.status_code == NO:
        assert b"permission" in response.content.lower() or b"role" in response.content.lower()


@pytest.mark.parametrize(
    "path", ["/usage/", "/revenue/", "/revenue/export.csv", "/settings/prices/"]
)
def test_signed_out_visitors_are_sent_to_the_login_page(client, db, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_an_outsider_sees_none_of_another_organizations_revenue(clients, revenue_book):
    page = clients["outsider"].get("/revenue/?range=all").content.decode()
    csv_rows = b"".join(clients["outsider"].get("/revenue/export.csv?range=all").streaming_content)

    assert "cus_a" not in page and "ch_3" not in page
    assert csv_rows.decode().count("\n") == 1  # the header only


def test_an_outsider_cannot_open_or_change_another_organizations_price(clients, acme_price):
    response = clients["outsider"].post(f"/settings/prices/{acme_price.pk}/", new_price("x"))
    assert response.status_code == 404
    assert ModelPrice.objects.get(pk=acme_price.pk).model_pattern == "in-house-7b"


def test_a_shipped_default_cannot_be_edited_through_its_url(owner_client):
    default = ModelPrice.objects.filter(organization=None).first()
    assert owner_client.get(f"/settings/prices/{default.pk}/").status_code == 404


# ── Usage page ────────────────────────────────────────────────────────────────────


def test_the_usage_page_shows_the_big_numbers_and_the_table(owner_client, project):
    apply_now(project, recent_run("r1") + recent_run("r2", model="in-house-7b"))

    page = owner_client.get("/usage/?range=24h").content.decode()

    # gpt-4o 1000 in, 200 out = 0.0045 USD; in-house-7b has no price
    assert 'data-stat="cost"' in page and "0.0045" in page
    assert "1 unpriced call not counted" in page
    assert 'data-stat="runs">2<' in page
    assert ">unpriced<" in page  # never shown as 0
    assert "/settings/prices/?model=in-house-7b" in page
    assert 'id="chart-cost"' in page and 'id="chart-latency"' in page


def test_the_usage_partial_is_the_body_only_and_varies_on_htmx(owner_client, project):
    apply_now(project, recent_run("r1"))

    response = owner_client.get("/usage/?range=7d&group=agent", **HX)
    body = response.content.decode()

    assert "<html" not in body
    assert body.lstrip().startswith('<div id="usage-body"')
    assert 'hx-push-url="true"' in body
    assert "HX-Request" in response["Vary"]
    assert 'data-group="agent" aria-current="true"' in body


def test_an_empty_project_teaches_how_to_send_usage(owner_client, project):
    page = owner_client.get("/usage/").content.decode()
    assert "No usage yet" in page
    assert '"type":"usage"' in page


def test_user_content_on_the_usage_page_is_escaped(owner_client, project):
    apply_now(project, recent_run("r1", agent="<script>alert(1)</script>"))

    page = owner_client.get("/usage/?range=24h&group=agent").content.decode()

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_usage_page_costs_the_same_queries_for_one_run_or_many(
    owner_client, project, django_assert_max_num_queries
):
    apply_now(project, recent_run("r0"))
    with django_assert_max_num_queries(9) as few:
        owner_client.get("/usage/?range=90d&group=model")
    many = [
        event
        for n in range(1, 30)
        for event in recent_run(f"r{n}", model=f"m{n % 7}", agent=f"a{n % 5}", hours=n)
    ]
    apply_now(project, many)
    with django_assert_max_num_queries(len(few)):
        owner_client.get("/usage/?range=90d&group=model")


# ── Revenue page ──────────────────────────────────────────────────────────────────


def test_the_revenue_page_has_a_section_per_currency_never_a_mixed_total(
    owner_client, revenue_book
):
    page = owner_client.get("/revenue/?range=all").content.decode()

    assert page.index('id="currency-EUR"') < page.index('id="currency-USD"')
    assert "165.79" in page and "10.00" in page  # net USD, net EUR
    assert "175.79" not in page  # what adding USD and EUR nets would give
    assert "cost is in USD; margin not computed across currencies" in page
    assert "165.7855" in page  # the USD margin, exact in the title


def test_a_refund_links_to_the_charge_it_refunds(owner_client, revenue_book):
    page = owner_client.get("/revenue/?range=all").content.decode()
    assert "refund of" in page
    assert "charge=ch_3" in page

    only = owner_client.get("/revenue/?range=all&charge=ch_3").content.decode()
    assert "The event list below shows charge" in only
    assert only.count('data-event="') == 2  # the charge and its refund


def test_events_link_to_the_run_that_earned_them(owner_client, revenue_book):
    page = owner_client.get("/revenue/?range=all&kind=subscription").content.decode()
    assert 'href="/runs/rv2/"' in page


def test_the_event_list_loads_more_rows_by_keyset(owner_client, project, revenue_book):
    for n in range(60):
        apply_now(project, [money("bulk", n, "charge", "1.00", external_id=f"ch_bulk_{n}")])
    first = owner_client.get("/revenue/?range=all").content.decode()
    assert first.count('data-event="') == 50
    cursor = first.split("cursor=")[1].split('"')[0].split("&")[0]

    more = owner_client.get(f"/revenue/?range=all&cursor={cursor}", **HX).content.decode()

    assert more.count('data-event="') == 21  # 71 events in all
    assert "Load more" not in more


def test_a_bad_revenue_filter_explains_itself(owner_client, project):
    response = owner_client.get("/revenue/?from=tomorrow")
    assert response.status_code == 400
    assert "From: expected a day like 2026-11-25" in response.content.decode()


def test_user_content_on_the_revenue_page_is_escaped(owner_client, project):
    apply_now(project, [money("r", 0, "charge", "1.00", customer="<img src=x onerror=alert(1)>")])
    page = owner_client.get("/revenue/?range=all").content.decode()
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_the_revenue_page_costs_the_same_queries_for_few_events_or_many(
    owner_client, project, revenue_book, django_assert_max_num_queries
):
    with django_assert_max_num_queries(11) as few:
        owner_client.get("/revenue/?range=all")
    for n in range(40):
        apply_now(project, [money(f"run{n}", n, "charge", "1.00", customer=f"c{n}",
                                  agent=f"agent{n % 6}", external_id=f"x{n}")])  # fmt: skip
    with django_assert_max_num_queries(len(few)):
        owner_client.get("/revenue/?range=all")


# ── Prices page ───────────────────────────────────────────────────────────────────


def test_an_owner_adds_a_price_and_sees_it_listed(owner_client, org):
    response = owner_client.post("/settings/prices/", new_price("in-house-7b"), follow=True)

    row = ModelPrice.objects.get(organization=org)
    assert (row.model_pattern, row.input_per_m, row.output_per_m) == (
        "in-house-7b", Decimal("0.10"), Decimal("0.20"),
    )  # fmt: skip
    page = response.content.decode()
    assert "re-priced in the background" in page
    assert f'data-price="{row.pk}"' in page


def test_a_negative_price_is_refused_with_a_message(owner_client, org):
    response = owner_client.post("/settings/prices/", new_price("x") | {"input_per_m": "-1"})
    assert response.status_code == 400
    assert "greater than or equal to 0" in response.content.decode()
    assert not ModelPrice.objects.filter(organization=org).exists()


def test_a_duplicate_row_is_refused_with_a_message(owner_client, acme_price):
    response = owner_client.post("/settings/prices/", new_price("in-house-7b") | {
        "effective_from": "2026-01-01"})  # fmt: skip
    assert response.status_code == 400
    assert "already a exact row for in-house-7b" in response.content.decode()


def test_an_owner_edits_a_price(owner_client, acme_price):
    form = new_price("in-house-7b") | {"input_per_m": "0.25"}
    response = owner_client.post(f"/settings/prices/{acme_price.pk}/", form)
    assert response.status_code == 302
    assert ModelPrice.objects.get(pk=acme_price.pk).input_per_m == Decimal("0.25")


def test_unpriced_models_are_listed_with_their_call_counts(owner_client, project):
    apply_now(project, recent_run("a", model="in-house-7b") + recent_run("b", model="in-house-7b"))
    apply_now(project, recent_run("c", model="<b>odd</b>"))

    page = owner_client.get("/settings/prices/").content.decode()

    assert "Unpriced models seen:" in page
    assert "in-house-7b</span> (2 calls)" in page
    assert "&lt;b&gt;odd&lt;/b&gt;</span> (1 call)" in page
    assert "?model=in-house-7b#add" in page


def test_price_it_prefills_the_form_with_the_model(owner_client, project):
    page = owner_client.get("/settings/prices/?model=openai/In-House-7B").content.decode()
    assert 'value="in-house-7b"' in page
    assert '<option value="exact" selected>' in page


def test_a_developer_sees_prices_but_no_form(clients):
    page = clients["developer"].get("/settings/prices/").content.decode()
    assert "Shipped defaults" in page
    assert "Add a price" not in page and "Override" not in page


def test_the_prices_page_costs_a_fixed_number_of_queries(
    owner_client, acme_price, django_assert_max_num_queries
):
    with django_assert_max_num_queries(10):
        owner_client.get("/settings/prices/")


# ── Admin ─────────────────────────────────────────────────────────────────────────


def test_a_price_saved_in_the_admin_is_re_priced_too(
    admin_client, org, django_capture_on_commit_callbacks
):
    form = new_price("in-house-7b") | {
        "organization": org.pk, "currency": "USD", "cache_read_per_m": "0",
        "cache_write_per_m": "0",
    }  # fmt: skip
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post("/admin/billing/modelprice/add/", form)

    assert response.status_code == 302
    assert ModelPrice.objects.filter(organization=org, model_pattern="in-house-7b").exists()
    assert len(callbacks) == 1  # the re-pricing, queued once the row is committed


def test_the_admin_refuses_a_price_in_another_currency(admin_client, org):
    form = new_price("x") | {"organization": org.pk, "currency": "EUR", "cache_read_per_m": "0",
                             "cache_write_per_m": "0"}  # fmt: skip
    response = admin_client.post("/admin/billing/modelprice/add/", form)
    assert response.status_code == 200
    assert "prices must be in USD" in response.content.decode()


def test_billing_events_are_read_only_in_the_admin(admin_client, revenue_book):
    page = admin_client.get("/admin/billing/revenueevent/")
    assert page.status_code == 200
    assert "ch_3" in page.content.decode()
    assert admin_client.get("/admin/billing/revenueevent/add/").status_code == 403


def test_the_export_link_follows_the_filters(owner_client, revenue_book):
    body = owner_client.get("/revenue/?range=all&currency=USD&kind=refund", **HX).content.decode()
    assert 'href="/revenue/export.csv?range=all&amp;currency=USD&amp;kind=refund"' in body


def test_a_filter_change_pushes_the_tidy_url(owner_client, revenue_book):
    response = owner_client.get(
        "/revenue/?from=&to=&currency=USD&agent=&customer=&kind=&period=day&range=all", **HX
    )
    assert response["HX-Push-Url"] == "/revenue/?range=all&currency=USD"
