"""The answer for a URL nothing matched: JSON under the API, the HTML page elsewhere."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found

API_PREFIXES = ("/api/", "/v1/")  # /v1/traces is a collector's default OTLP path


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIXES):
        return JsonResponse({"error": f"no API endpoint at {request.path[:200]!r}"}, status=404)
    return page_not_found(request, exception)
