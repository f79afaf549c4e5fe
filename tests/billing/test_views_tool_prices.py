"""Tool prices on Settings → prices: listed, added and deleted by owners only, errors
shown beside their fields, and never another organization's row."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from billing.models import ToolPrice
from billing.services import ToolPriceData, tool_price_create
from runs.ingest.tool_usage import tool_usage_rollup_write
from tests.conftest import login

D = Decimal


def tool_price(**changes) -> dict:
    return {"form": "tool_price", "tool": "get_weather", "unit_price": "0.002",
            "currency": "usd", "effective_from": "2026-11-01"} | changes  # fmt: skip


@pytest.fixture
def weather_price(org):
    data = ToolPriceData(tool="get_weather", unit_price=D("0.002"), currency="USD",
                         effective_from=date(2026, 11, 1))  # fmt: skip
    return tool_price_create(organization=org, data=data)


@pytest.fixture
def globex_price(other_org):
    data = ToolPriceData(tool="get_weather", unit_price=D("9"), currency="EUR",
                         effective_from=date(2026, 1, 1))  # fmt: skip
    return tool_price_create(organization=other_org, data=data)


def test_an_owner_adds_a_tool_price(owner_client, org):
    response = owner_client.post("/settings/prices/", tool_price(), follow=True)

    row = ToolPrice.objects.get(organization=org)
    assert (row.tool, row.unit_price, row.currency, row.effective_from) == (
        "get_weather",
        D("0.002"),
        "USD",
        date(2026, 11, 1),
    )
    page = response.content.decode()
    assert "Price for get_weather from Nov 1, 2026 added" in page
    assert f'data-tool-price="{row.pk}"' in page


def test_the_tool_price_table_lists_the_rows_with_which_is_in_force(owner_client, org):
    for day, price in ((date(2026, 1, 1), "0.001"), (date(2026, 6, 1), "0.002"),
                       (date(2999, 1, 1), "0.005")):  # fmt: skip
        data = ToolPriceData(tool="search", unit_price=D(price), currency="USD",
                             effective_from=day)  # fmt: skip
        tool_price_create(organization=org, data=data)

    page = owner_client.get("/settings/prices/").content.decode()
    table = page[page.index('data-table="tool-prices"') :]

    assert table.index("0.005") < table.index("0.002") < table.index("0.001")  # newest first
    assert ">scheduled<" in table and ">current<" in table and "earlier days" in table


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"tool": ""}, "tool", "This field is required."),
        ({"unit_price": "-1"}, "unit_price", "0 or more."),
        ({"unit_price": "abc"}, "unit_price", "Enter a number."),
        ({"unit_price": "0.00000000001"}, "unit_price", "At most 10 decimal places."),
        ({"unit_price": "12345678901"}, "unit_price", "At most 10 digits before the point."),
        ({"currency": "US"}, "currency", "3 letters."),
        ({"currency": "U$D"}, "currency", "3 letters, like USD."),
        ({"currency": "xxq"}, "currency", "XXQ is not an ISO 4217 currency; like USD or EUR."),
        ({"effective_from": "yesterday"}, "effective_from", "Enter a valid date."),
    ],
)
def test_an_invalid_tool_price_is_refused_with_the_error_by_its_field(
    owner_client, org, changes, field, message
):
    response = owner_client.post("/settings/prices/", tool_price(**changes))

    assert response.status_code == 400
    form = response.context["tool_form"]
    assert any(message in error for error in form.errors[field])
    page = response.content.decode()
    assert "field--invalid" in page and "field__error" in page
    assert not ToolPrice.objects.exists()


def test_a_second_price_for_the_same_tool_and_day_is_refused_inline(owner_client, weather_price):
    response = owner_client.post("/settings/prices/", tool_price(unit_price="0.5"))

    assert response.status_code == 400
    page = response.content.decode()
    assert "There is already a price for get_weather from 2026-11-01" in page
    assert ToolPrice.objects.get().unit_price == D("0.002")


def test_a_bad_tool_price_leaves_the_model_price_form_alone(owner_client, org):
    response = owner_client.post("/settings/prices/", tool_price(currency=""))
    assert response.context["form"].errors == {}  # the model form is not bound


@pytest.mark.parametrize("role", ["developer", "support", "finance"])
def test_roles_that_may_read_prices_may_not_add_a_tool_price(make_member, role):
    client = login(make_member(role))

    assert client.get("/settings/prices/").status_code == 200
    response = client.post("/settings/prices/", tool_price())

    assert response.status_code == 403
    assert not ToolPrice.objects.exists()


def test_a_viewer_cannot_see_prices_or_add_one(make_member):
    client = login(make_member("viewer"))
    assert client.get("/settings/prices/").status_code == 403
    assert client.post("/settings/prices/", tool_price()).status_code == 403
    assert not ToolPrice.objects.exists()


def test_readers_see_tool_prices_without_the_add_form_or_delete_buttons(make_member, weather_price):
    page = login(make_member("support")).get("/settings/prices/").content.decode()
    assert f'data-tool-price="{weather_price.pk}"' in page
    assert 'id="tool-add"' not in page
    assert "/delete/" not in page


def test_an_owner_deletes_a_tool_price(owner_client, weather_price):
    response = owner_client.post(f"/settings/prices/tools/{weather_price.pk}/delete/")

    assert response.status_code == 302
    assert response["Location"] == "/settings/prices/#tools"
    assert not ToolPrice.objects.exists()


@pytest.mark.parametrize("role", ["developer", "support", "finance", "viewer"])
def test_other_roles_cannot_delete_a_tool_price(make_member, weather_price, role):
    response = login(make_member(role)).post(f"/settings/prices/tools/{weather_price.pk}/delete/")
    assert response.status_code == 403
    assert ToolPrice.objects.filter(pk=weather_price.pk).exists()


def test_another_organizations_tool_price_cannot_be_deleted(owner_client, globex_price):
    response = owner_client.post(f"/settings/prices/tools/{globex_price.pk}/delete/")

    assert response.status_code == 404
    assert ToolPrice.objects.filter(pk=globex_price.pk).exists()


def test_another_organizations_tool_prices_are_not_listed(owner_client, globex_price):
    page = owner_client.get("/settings/prices/").content.decode()
    assert f'data-tool-price="{globex_price.pk}"' not in page
    assert "No tool prices yet" in page


def test_deleting_needs_a_post(owner_client, weather_price):
    assert owner_client.get(f"/settings/prices/tools/{weather_price.pk}/delete/").status_code == 405
    assert ToolPrice.objects.exists()


def test_tools_used_on_days_no_price_covers_are_listed_with_a_link_to_price_them(
    owner_client, project, weather_price
):
    tool_usage_rollup_write(project_id=project.id, delta={
        (date(2026, 10, 30), "invoice-bot", "get_weather"): 4,  # before its first price
        (date(2026, 11, 5), "invoice-bot", "get_weather"): 50,  # priced
        (date(2026, 11, 6), "invoice-bot", "translate"): 7,  # never priced
    })  # fmt: skip

    page = owner_client.get("/settings/prices/").content.decode()

    assert "Unpriced tool uses" in page
    assert "get_weather</span> (4 uses, Oct 30)" in page
    assert "translate</span> (7 uses, Nov 6)" in page
    assert "?tool=translate#tool-add" in page


def test_price_it_prefills_the_tool_and_its_first_unpriced_day(owner_client, project):
    tool_usage_rollup_write(project_id=project.id, delta={
        (date(2026, 11, 6), "invoice-bot", "translate"): 7,
        (date(2026, 11, 9), "invoice-bot", "translate"): 1,
    })  # fmt: skip

    response = owner_client.get("/settings/prices/?tool=translate")

    initial = response.context["tool_form"].initial
    assert (initial["tool"], initial["effective_from"]) == ("translate", date(2026, 11, 6))


def test_another_organizations_unpriced_tools_are_not_listed(owner_client, other_project):
    tool_usage_rollup_write(project_id=other_project.id,
                            delta={(date(2026, 11, 6), "x", "secret_tool"): 7})  # fmt: skip
    assert "secret_tool" not in owner_client.get("/settings/prices/").content.decode()


def test_the_prices_page_costs_the_same_queries_for_one_tool_or_many(
    owner_client, org, project, django_assert_max_num_queries
):
    def add(tool: str, day: date) -> None:
        data = ToolPriceData(tool=tool, unit_price=D("0.01"), currency="USD", effective_from=day)
        tool_price_create(organization=org, data=data)

    add("t0", date(2026, 11, 1))
    tool_usage_rollup_write(project_id=project.id, delta={(date(2026, 10, 1), "a", "t0"): 1})
    with django_assert_max_num_queries(12) as few:
        owner_client.get("/settings/prices/")
    for n in range(1, 20):
        add(f"t{n}", date(2026, 11, n))
    tool_usage_rollup_write(project_id=project.id, delta={
        (date(2026, 10, 1) + timedelta(days=d), f"a{d % 3}", f"t{n}"): 1
        for n in range(30) for d in range(40)
    })  # fmt: skip

    with django_assert_max_num_queries(len(few)):
        page = owner_client.get("/settings/prices/").content.decode()
    assert page.count("data-tool-price=") == 20
