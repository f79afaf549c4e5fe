"""The answer while PostgreSQL is unreachable: 503 with Retry-After, on every page and
API, wherever the failure was raised (session, tenancy, view or template).

It is Django's 500 handler: Django calls it for any uncaught exception, in middleware
too, while the exception is still being handled, so it can tell an outage from a bug.
A bug still answers a plain 500."""

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views.defaults import server_error as django_server_error

RETRY_AFTER_SECONDS = 5
MESSAGE = "the store is unavailable"
_API_PREFIXES = ("/api/", "/v1/")


def store_is_down(error: BaseException | None) -> bool:
    return isinstance(error, (OperationalError, InterfaceError))


def server_error(request: HttpRequest) -> HttpResponse:
    if not store_is_down(sys.exc_info()[1]):
        return django_server_error(request)
    if request.path.startswith(_API_PREFIXES):
        response: HttpResponse = JsonResponse({"error": MESSAGE}, status=503)
    else:
        # Rendered without the request: its context (the user, the session) needs the
        # database that is down.
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
