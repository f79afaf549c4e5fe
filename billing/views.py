"""Usage and revenue pages."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from studio.tenancy import require_capability


@require_GET
@require_capability("view_usage")
def usage(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/usage.html", {})


@require_GET
@require_capability("view_revenue")
def revenue(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/revenue.html", {})
