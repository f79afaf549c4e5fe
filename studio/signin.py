"""Signing in over the wrong transport: say what to set instead of failing silently.

With SECURE_COOKIES on (the default when DEBUG is off) the browser drops Studio's session
and CSRF cookies on a plain-http page, so the login form fails its CSRF check and the user
is never signed in. The login page and the CSRF failure page name the cause and the fix.
"""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port
from django.middleware.csrf import REASON_BAD_ORIGIN, REASON_NO_CSRF_COOKIE
from django.shortcuts import render

# Browsers keep Secure cookies on these even over http, so signing in works there.
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]"}


def cookies_need_https(request: HttpRequest) -> bool:
    """True when this page came over http but Studio's cookies are Secure-only."""
    if request.is_secure() or not settings.SESSION_COOKIE_SECURE:
        return False
    domain, _port = split_domain_port(request.get_host())
    return domain not in LOOPBACK_HOSTS


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return super().get_context_data(**kwargs) | {
            "cookies_need_https": cookies_need_https(self.request)
        }


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a page that says why a form was refused and what fixes it."""
    if reason == REASON_NO_CSRF_COOKIE and cookies_need_https(request):
        cause = "insecure_transport"
    elif reason.startswith(REASON_BAD_ORIGIN.split("%s")[0]):
        cause = "untrusted_origin"
    elif reason == REASON_NO_CSRF_COOKIE:
        cause = "no_cookie"
    else:
        cause = "stale_form"
    return render(
        request,
        "studio/csrf_failure.html",
        {"cause": cause, "origin": request.headers.get("Origin", "")},
        status=403,
    )
