"""The OpenAPI document of the HTTP API, for anyone: it holds no data."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from runs.openapi import DOCUMENT


@require_GET
@cache_control(public=True, max_age=300)
def openapi_document(request: HttpRequest) -> JsonResponse:
    return JsonResponse(DOCUMENT, json_dumps_params={"ensure_ascii": False})
