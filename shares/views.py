"""Share links: made from a run page, ended from Settings, and the shared page
itself, which needs no login and shows one run, redacted, through the run page's
own code (runs.views.detail.run_response)."""

from __future__ import annotations

from dataclasses import replace

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from runs.presentation import Presentation
from runs.selectors.detail import run_for_detail
from runs.views.detail import DetailState, run_response
from shares.models import ShareLink
from shares.selectors import shared_checklist, shared_run
from shares.services import (
    DEFAULT_HOURS,
    may_revoke,
    share_path,
    sharelink_create,
    sharelink_resolve,
    sharelink_revoke,
    sharelink_viewed,
)
from studio.tenancy import require_capability

UNAVAILABLE = {
    "unknown": (404, "This link does not lead anywhere", "Check that it was copied whole."),
    "expired": (410, "This share link has expired", "Ask whoever sent it for a new one."),
    "revoked": (410, "This share link was revoked", "Ask whoever sent it for a new one."),
}


@require_POST
@require_capability("share_runs")
def share_create(request: HttpRequest, run_id: str) -> HttpResponse:
    run = run_for_detail(project=request.project, run_id=run_id)
    if run is None:
        raise Http404("No run with this id in this project.")
    try:
        link, token = sharelink_create(
            run=run, created_by=request.user, hours=_int(request.POST.get("hours"))
        )
    except ValueError as error:
        return HttpResponse(f"{str(error).capitalize()}.", status=400, content_type="text/plain")
    context = {
        "link": link,
        "run": run,
        "url": request.build_absolute_uri(share_path(token)),
        "run_url": reverse("runs:detail", args=[run.run_id]),
    }
    template = "shares/created.html" + ("#result" if request.htmx else "")
    response = render(request, template, context)
    response["Cache-Control"] = "no-store"  # the link is shown once: keep it out of caches
    return response


@require_POST
@require_capability("share_runs", needs_project=False)
def share_revoke(request: HttpRequest, link_id: int) -> HttpResponse:
    link = get_object_or_404(
        ShareLink.objects.select_related("project__organization", "run"),
        pk=link_id,
        project__organization=request.org,
    )
    if not may_revoke(user=request.user, role=request.role, link=link):
        context = {"capability": "revoke_any_share"}
        return render(request, "studio/forbidden.html", context, status=403)
    if sharelink_revoke(link=link, actor=request.user):
        messages.success(request, f"Share link {link.prefix}… of {link.run.run_id} is revoked.")
    return redirect(reverse("settings:index") + "#shares")


@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def shared_page(request: HttpRequest, token: str) -> HttpResponse:
    """The run behind a share link; no login, no cookies, not for search engines."""
    resolved = sharelink_resolve(token)
    found = shared_run(link=resolved.link) if resolved.link else None
    if found is None:
        status, title, hint = UNAVAILABLE[resolved.problem or "unknown"]
        context = {"title": title, "hint": hint, "base_template": "shares/base.html"}
        return _private(render(request, "shares/unavailable.html", context, status=status))
    link = resolved.link
    run, redactor = found
    state = replace(DetailState.from_params(request.GET), q="")
    extra = None
    if not request.htmx:  # a whole page: the checklist and the banner come with it
        sharelink_viewed(link=link)
        extra = {
            "base_template": "shares/base.html",
            "share": link,
            "shared_checklist": shared_checklist(link=link, run=run, redactor=redactor),
        }
    show = Presentation(redact=redactor, shared=True)
    return _private(run_response(request, run, state, show, extra))


def _private(response: HttpResponse) -> HttpResponse:
    response["X-Robots-Tag"] = "noindex, nofollow, noarchive"
    # The token is in the URL: no Referer carries it to another site, no cache keeps it.
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "private, no-store"
    return response


def _int(value: str | None) -> int:
    try:
        return int(value) if value else DEFAULT_HOURS
    except ValueError:
        return -1  # refused by the service, with the allowed range
