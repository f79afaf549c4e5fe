"""Error groups."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from studio.tenancy import require_capability


@require_GET
@require_capability("view_runs")
def error_list(request: HttpRequest) -> HttpResponse:
    return render(request, "runs/error_list.html", {"groups": []})
