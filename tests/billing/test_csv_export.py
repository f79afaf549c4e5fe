"""The CSV export: exactly the filtered billing events, streamed, amounts as exact
decimal strings (the book is in tests/billing/conftest.py)."""

import csv
import io
import re
from decimal import Decimal

import pytest
from django.http import StreamingHttpResponse

from billing.selectors import RevenueFilters, decimal_text, revenue_events_page
from tests.billing.conftest import money
from tests.conftest import apply_now

EXPORT = "/revenue/export.csv"


def export(client, **params) -> list[dict]:
    response = client.get(EXPORT, {"range": "all", **params})
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def listed(project, **params) -> list:
    filters = RevenueFilters.from_params({"range": "all", **params})
    events, cursor = [], None
    while True:
        page = revenue_events_page(project=project, filters=filters, cursor=cursor, limit=3)
        events += page.events
        if not page.next_cursor:
            return events
        cursor = page.next_cursor


@pytest.mark.parametrize(
    "params",
    [{}, {"currency": "USD"}, {"kind": "refund"}, {"customer": "cus_a"},
     {"agent": "support-triage"}, {"charge": "ch_3"}, {"from": "2026-11-20", "to": "2026-11-20"}],
)  # fmt: skip
def test_the_csv_holds_the_same_rows_as_the_filtered_list(
    owner_client, project, revenue_book, params
):
    rows = export(owner_client, **params)
    events = listed(project, **params)

    assert [r["event_id"] for r in rows] == [e.event_id for e in events]
    assert [r["amount"] for r in rows] == [decimal_text(e.amount) for e in events]
    assert [(r["kind"], r["currency"]) for r in rows] == [(e.kind, e.currency) for e in events]


def test_amounts_are_exact_decimal_strings(owner_client, project, revenue_book):
    rows = export(owner_client, currency="USD")
    amounts = {r["external_id"]: r["amount"] for r in rows if r["external_id"]}

    assert amounts["ch_1"] == "0.10"
    assert amounts["ch_3"] == "19.99"
    assert amounts["ch_oct"] == "100.00"
    # The CSV adds up to the page's total, to the cent: 0.10 + 0.20 − 1.00 for cus_b
    cus_b = [r for r in rows if r["customer"] == "cus_b"]
    signs = {"charge": 1, "subscription": 1, "refund": -1, "credit": -1, "payout": 0}
    assert sum(signs[r["kind"]] * Decimal(r["amount"]) for r in cus_b) == Decimal("-0.70")


def test_a_row_carries_time_ids_refund_link_and_run(owner_client, project, revenue_book):
    refund = next(r for r in export(owner_client) if r["external_id"] == "re_1")
    assert refund == {
        "ts": "2026-11-20T09:00:40.000000Z",
        "kind": "refund",
        "amount": "5.00",
        "currency": "USD",
        "customer": "cus_a",
        "agent": "invoice-bot",
        "external_id": "re_1",
        "refund_of": "ch_3",
        "run_id": "rv1",
        "event_id": refund["event_id"],
    }


def test_the_export_is_an_attachment_that_is_not_cached(owner_client, project, revenue_book):
    response = owner_client.get(EXPORT)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="revenue-')
    assert response["Cache-Control"] == "private, no-store"


def test_spreadsheet_formulas_in_event_text_are_made_inert(owner_client, project):
    apply_now(project, [money("r", 0, "charge", "1.00", customer="=HYPERLINK(\"x\")",
                              external_id="@ch")])  # fmt: skip
    row = export(owner_client)[0]
    assert row["customer"] == '\'=HYPERLINK("x")'
    assert row["external_id"] == "'@ch"
    assert row["amount"] == "1.00"


def test_a_bad_filter_is_a_400_naming_the_parameter(owner_client, project):
    response = owner_client.get(EXPORT, {"kind": "gift"})
    assert response.status_code == 400
    assert b"kind: use one of" in response.content


def test_an_empty_export_still_has_its_header(owner_client, project):
    response = owner_client.get(EXPORT)
    assert b"".join(response.streaming_content).decode().strip() == (
        "ts,kind,amount,currency,customer,agent,external_id,refund_of,run_id,event_id"
    )


def test_the_export_reads_rows_through_a_chunked_cursor(owner_client, project, monkeypatch):
    from django.db.models.query import QuerySet

    seen = {}
    original = QuerySet.iterator

    def spy(self, chunk_size=None):
        seen["chunk_size"] = chunk_size
        return original(self, chunk_size=chunk_size)

    monkeypatch.setattr(QuerySet, "iterator", spy)
    b"".join(owner_client.get(EXPORT).streaming_content)
    assert seen["chunk_size"] == 2000


def test_the_page_shows_the_same_amounts_as_the_csv(owner_client, project, revenue_book):
    page = owner_client.get("/revenue/?range=all").content.decode()
    shown = re.findall(r'data-amount="([^"]+)"><span[^>]*>([^<]+)<', page)

    assert [text for _, text in shown] == [amount for amount, _ in shown]
    assert [amount for amount, _ in shown] == [r["amount"] for r in export(owner_client)]
