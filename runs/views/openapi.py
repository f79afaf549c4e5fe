"""The OpenAPI document of the HTTP API, for anyone: it holds no data."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from runs.openapi import DOCUMENT


@csrf_exempt  # read only: any other method is a 405, not a CSRF page
@require_GET
@cache_control(public=True, max_age=300)
def openapi_document(request: HttpRequest) -> JsonResponse:
    return JsonResponse(DOCUMENT, json_dumps_params={"ensure_ascii": False})
