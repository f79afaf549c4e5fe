"""Schemathesis against the served OpenAPI document: no 5xx, and every answer as documented.

The document is the one `GET /api/v1/openapi.json` serves (checked first). Every
operation in it is called in process, through the real WSGI application, with
generated requests, valid and invalid, sent with a real project key (ingest and read
scopes) on the test database. The examples per operation are few, so the sweep stays
well under a minute.
"""

import json

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from runs.openapi import DOCUMENT
from runs.protocol import _NDJSON_TYPES
from studio.apikeys import apikey_create
from studio.wsgi import application

EXAMPLES_PER_OPERATION = 30

# NDJSON bodies are documented as strings, one event a line: sent as text. Protobuf
# bodies are bytes.
for ndjson_type in _NDJSON_TYPES:
    schemathesis.serializer.alias(ndjson_type, "text/plain")
schemathesis.serializer.alias("application/x-protobuf", "application/octet-stream")

# Loaded from the module, not over HTTP: collection may not touch the database.
schema = schemathesis.openapi.from_dict(json.loads(json.dumps(DOCUMENT)))
schema.app = application  # every call in process, through the WSGI application


@pytest.fixture
def key_headers(project) -> dict:
    key = apikey_create(project=project, scopes=["ingest", "read"])[1]
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def in_process(db):
    # Django closes the database connection when a request ends; the test's connection
    # holds its transaction, so keep it open, as Django's own test client does.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_the_fuzzed_document_is_the_one_served(client):
    assert client.get("/api/v1/openapi.json").json() == schema.raw_schema


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented_and_never_with_a_5xx(case, in_process, key_headers):
    # Not whether a request the schema allows is taken, nor one it forbids refused: a
    # request can be refused for what no schema says (a gzip header on a body that is not
    # gzip, a made-up cursor), and Studio is lenient where a sender's slip is harmless
    # (an empty Content-Encoding, a null resourceSpans, a long filter).
    case.call_and_validate(
        headers=key_headers, excluded_checks=[positive_data_acceptance, negative_data_rejection]
    )
