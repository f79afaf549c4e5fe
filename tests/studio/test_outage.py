"""A lost database is a 503 with Retry-After on every page and API; a bug stays a 500.
The fault tests (tests/faults/) prove it against a real server going down; these pin
the two pieces that decide it."""

import json

import pytest
from django.db import DatabaseError, OperationalError, transaction

from studio.outage import server_error
from studio.sql import bulk_cursor


def answer_while_handling(rf, path: str, error: Exception):
    try:
        raise error
    except Exception:  # Django calls its 500 handler while the exception is handled
        return server_error(rf.get(path))


def test_a_page_while_the_database_is_down_is_a_503_saying_so(rf):
    response = answer_while_handling(rf, "/runs/", OperationalError("connection refused"))
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "The database is unavailable" in response.content.decode()


def test_an_api_call_while_the_database_is_down_is_a_json_503(rf):
    response = answer_while_handling(rf, "/api/v1/runs", OperationalError("connection refused"))
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert json.loads(response.content) == {"error": "the store is unavailable"}


def test_a_bug_is_still_a_500(rf):
    response = answer_while_handling(rf, "/runs/", ValueError("a bug"))
    assert response.status_code == 500
    assert "Retry-After" not in response


def test_errors_of_the_bulk_cursor_are_djangos_so_the_views_catch_them(db):
    with pytest.raises(DatabaseError), transaction.atomic(), bulk_cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table")
