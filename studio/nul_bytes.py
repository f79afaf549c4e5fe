"""Requests carrying a NUL character are refused, saying where it is: a path with one
names nothing that can exist (404), a query string or header value is a 400.

PostgreSQL text cannot hold NUL, so a run id, filter or header value with one would
fail in the database with a server error; no real name or value holds one.
"""

from django.http import HttpRequest, HttpResponse, JsonResponse

from studio.not_found import API_PREFIXES


class RefuseNulMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        where = nul_found(request)
        if where is None:
            return self.get_response(request)
        message = f"the {where} contains a NUL character (%00), which Studio cannot store"
        status = 404 if where == "URL path" else 400
        if request.path.startswith(API_PREFIXES):
            return JsonResponse({"error": message}, status=status)
        return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def nul_found(request: HttpRequest) -> str | None:
    """Where the request carries a NUL: 'URL path', 'query string' or a header; or None."""
    if "\x00" in request.path:
        return "URL path"
    query = request.META.get("QUERY_STRING", "")
    if "%00" in query or "\x00" in query:
        return "query string"
    for name, value in request.headers.items():
        if "\x00" in value:
            return f"{name} header"
    return None
