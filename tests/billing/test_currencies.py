"""Currencies are ISO 4217 codes, and amounts keep each currency's minor units: JPY has
none, KWD three, USD two. A bad code or an amount finer than its currency's minor unit
is rejected per event with the reason; its neighbours in the request are kept. Sums,
pages and the CSV show JPY as whole yen and KWD with three places."""

import csv
import io
import json
import re
from decimal import Decimal

import pytest

from billing import charts
from billing.currencies import MINOR_UNITS, NOT_MONEY
from billing.models import RevenueEvent
from billing.pricing import exact_amount, format_money
from runs.models import IngestBatch
from tests.billing.conftest import money
from tests.conftest import apply_now, ev, wait_for

D = Decimal


def send(api, events: list[dict]) -> dict:
    body = "".join(json.dumps(e) + "\n" for e in events).encode()
    response = api.post("/api/v1/ingest", data=body, content_type="application/x-ndjson")
    assert response.status_code == 202, response.content
    return response.json()


def section(page: str, currency: str) -> str:
    """The revenue page's section of one currency."""
    start = page.index(f'id="currency-{currency}"')
    return page[start : page.index("</section>", start)]


def stat(html: str, name: str) -> list[str]:
    """The shown amount and code of a stat (`data-stat="net"`), tags dropped."""
    found = re.search(rf'data-stat="{name}">(.*?)</div>', html, re.S)
    assert found, f"no {name} stat"
    return re.sub(r"<[^>]+>", " ", found.group(1)).split()[0:2]


def export(client) -> list[dict]:
    response = client.get("/revenue/export.csv", {"range": "all"})
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


# The kept list ------------------------------------------------------------------------


def test_the_kept_list_has_iso_4217s_minor_units():
    assert (MINOR_UNITS["JPY"], MINOR_UNITS["USD"], MINOR_UNITS["KWD"]) == (0, 2, 3)
    assert MINOR_UNITS["CLF"] == 4 and MINOR_UNITS["IQD"] == 3  # CLDR would say 0 for IQD
    assert "XXQ" not in MINOR_UNITS and "XXQ" not in NOT_MONEY
    assert {"XAU", "XTS", "XXX"} <= NOT_MONEY
    assert len(MINOR_UNITS) > 150


# Over the real ingest API, applied by a real worker -----------------------------------


@pytest.mark.worker
def test_bad_currencies_are_rejected_per_event_and_their_neighbours_land(
    api, worker, project, owner_client
):
    worker()
    events = [
        ev("run_start", "jp1", at=0, seq=0),
        money("jp1", 1, "charge", "1234", "JPY", event_id="yen", external_id="ch_y1"),
        money("jp1", 2, "charge", "12.5", "JPY", event_id="half-yen"),
        money("jp1", 3, "charge", "10.00", "XXQ", event_id="xxq"),
        money("jp1", 4, "charge", "1.5", "kwd", event_id="dinar", external_id="ch_k1"),
        money("jp1", 5, "charge", "12.345", "USD", event_id="tenth-cent"),
        money("jp1", 6, "charge", "12.50", "USD", event_id="dollars", external_id="ch_u1"),
    ]

    answer = send(api, events)

    assert answer["accepted"] == 4
    assert {r["index"]: r["error"] for r in answer["rejected"]} == {
        2: 'data.amount: JPY has no minor units; got "12.5"',
        3: 'data.currency: expected an ISO 4217 currency code like "USD", got string "XXQ"',
        5: 'data.amount: USD has 2 decimal places (ISO 4217 minor units); got "12.345"',
    }
    wait_for(lambda: not IngestBatch.objects.exclude(status="applied").exists())
    stored = {e.event_id: (e.amount, e.currency) for e in RevenueEvent.objects.all()}
    assert stored == {
        "yen": (D("1234"), "JPY"),
        "dinar": (D("1.5"), "KWD"),
        "dollars": (D("12.50"), "USD"),
    }
    assert api.get("/api/v1/runs/jp1").json()["revenue"] == {
        "JPY": "1234",
        "KWD": "1.500",
        "USD": "12.50",
    }
    page = owner_client.get("/revenue/?range=all").content.decode()
    assert "XXQ" not in page
    assert stat(section(page, "JPY"), "gross") == ["1,234", "JPY"]


# Sums and display ----------------------------------------------------------------------


@pytest.fixture
def yen_and_dinars(project):
    """Two runs billing in JPY and KWD (and one USD charge):
    JPY: 1,234 + 100,000 charged, 234 refunded → gross 101,234, net 101,000
    KWD: 1.500 + 0.250 charged, 0.125 refunded → gross 1.750, net 1.625"""
    apply_now(
        project,
        [
            ev("run_start", "jp1", at=0, seq=0),
            money("jp1", 1, "charge", "1234", "JPY", external_id="ch_y1", customer="tanaka"),
            money("jp1", 2, "charge", "100000", "JPY", external_id="ch_y2", customer="tanaka"),
            money("jp1", 3, "refund", "234", "JPY", refund_of="ch_y1", customer="tanaka"),
            ev("run_end", "jp1", at=4, seq=4),
            ev("run_start", "kw1", at=10, seq=0),
            money("kw1", 11, "charge", "1.5", "KWD", external_id="ch_k1", customer="alsabah"),
            money("kw1", 12, "charge", "0.250", "KWD", external_id="ch_k2", customer="alsabah"),
            money("kw1", 13, "refund", "0.125", "KWD", refund_of="ch_k1", customer="alsabah"),
            money("kw1", 14, "charge", "7", "USD", external_id="ch_u1"),
            ev("run_end", "kw1", at=15, seq=5),
        ],
    )


def test_the_revenue_page_shows_yen_whole_and_dinars_with_three_places(
    owner_client, yen_and_dinars
):
    page = owner_client.get("/revenue/?range=all").content.decode()

    yen = section(page, "JPY")
    assert stat(yen, "gross") == ["101,234", "JPY"]
    assert stat(yen, "refunds") == ["234", "JPY"]
    assert stat(yen, "net") == ["101,000", "JPY"]
    assert "101,234.00" not in yen and "101000.00" not in yen
    assert 'title="101000 JPY"' in yen  # the exact amount on hover, in whole yen too

    dinars = section(page, "KWD")
    assert stat(dinars, "gross") == ["1.750", "KWD"]
    assert stat(dinars, "refunds") == ["0.125", "KWD"]
    assert stat(dinars, "net") == ["1.625", "KWD"]

    assert stat(section(page, "USD"), "gross") == ["7.00", "USD"]
    # The event list: each amount in its currency's minor units.
    assert 'data-amount="100000"' in page and 'data-amount="0.250"' in page
    assert 'data-amount="7.00"' in page


def test_the_csv_has_each_amount_in_its_currencys_minor_units(owner_client, yen_and_dinars):
    rows = export(owner_client)

    charges = {
        r["external_id"]: (r["amount"], r["currency"]) for r in rows if r["kind"] == "charge"
    }
    refunds = {r["refund_of"]: (r["amount"], r["currency"]) for r in rows if r["kind"] == "refund"}
    assert charges == {
        "ch_y1": ("1234", "JPY"),
        "ch_y2": ("100000", "JPY"),
        "ch_k1": ("1.500", "KWD"),
        "ch_k2": ("0.250", "KWD"),
        "ch_u1": ("7.00", "USD"),
    }
    assert refunds == {"ch_y1": ("234", "JPY"), "ch_k1": ("0.125", "KWD")}


def test_run_pages_show_revenue_in_the_currencys_minor_units(owner_client, yen_and_dinars):
    yen_run = owner_client.get("/runs/jp1/").content.decode()
    dinar_run = owner_client.get("/runs/kw1/").content.decode()
    listing = owner_client.get("/runs/").content.decode()

    assert "101,000 JPY" in yen_run and "101,000.00" not in yen_run
    assert "1.625 KWD" in dinar_run and "7.00 USD" in dinar_run
    assert '101,000<span class="money__ccy">JPY</span>' in listing
    assert '1.625<span class="money__ccy">KWD</span>' in listing


@pytest.mark.parametrize(
    ("amount", "currency", "shown", "exact"),
    [
        ("1234", "JPY", "1,234 JPY", "1234"),
        ("1234.000000", "JPY", "1,234 JPY", "1234"),
        ("-234", "JPY", "-234 JPY", "-234"),
        ("0", "JPY", "0 JPY", "0"),
        ("1.5", "KWD", "1.500 KWD", "1.500"),
        ("1234.5", "KWD", "1,234.500 KWD", "1234.500"),
        ("0", "KWD", "0.000 KWD", "0.000"),
        ("1234.5", "USD", "1,234.50 USD", "1234.50"),
        ("0.0042", "USD", "0.0042 USD", "0.0042"),  # model cost: under a cent
        ("0.5", "JPY", "0.5 JPY", "0.5"),  # under one yen (a tool's cost), not shown as 0
        ("0.0001", "CLF", "0.0001 CLF", "0.0001"),
        ("12.5", "XXQ", "12.50 XXQ", "12.50"),  # stored before codes were checked
    ],
)
def test_amounts_are_shown_in_the_currencys_minor_units(amount, currency, shown, exact):
    assert format_money(D(amount), currency) == shown
    assert exact_amount(D(amount), currency) == exact


def test_the_revenue_chart_hover_has_the_currencys_decimals():
    yen = charts.revenue_bars(x=[], gross=[], refunds_and_credits=[], net=[], currency="JPY")
    dinars = charts.revenue_bars(x=[], gross=[], refunds_and_credits=[], net=[], currency="KWD")

    assert all(",.0f} JPY" in trace["hovertemplate"] for trace in yen["data"])
    assert all(",.3f} KWD" in trace["hovertemplate"] for trace in dinars["data"])
