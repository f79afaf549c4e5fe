"""Run ids in page URLs.

A run id is any 1–128 characters the runner chose (`team-a/nightly/7`, `50% off`,
`a?b#c`). The server decodes a request's path once before matching it, so a `%2F` in
the address is a `/` to the URL patterns, and `runs/x/checklist/` could be the page of
run `x/checklist` or the checklist of run `x`. This converter keeps `/` readable and
escapes what would not come back whole, so every id resolves to its own page.
"""

import re
from urllib.parse import unquote

from django.urls import register_converter

# Names of routes under runs/ that a segment of an id could be mistaken for.
RESERVED_SEGMENTS = frozenset({"checklist", "compare", "health", "live", "share"})

# `%` so that unquoting is exact; control characters, which the pattern's `.` and
# browsers drop or refuse.
_ESCAPED = re.compile(r"[%\x00-\x1f\x7f]")


def _escape(char: str) -> str:
    return f"%{ord(char):02X}"


def _segment_to_url(segment: str) -> str:
    segment = _ESCAPED.sub(lambda match: _escape(match.group()), segment)
    if segment and not segment.strip("."):
        # Browsers resolve `.` and `..` segments before sending the request.
        return segment.replace(".", _escape("."))
    if segment in RESERVED_SEGMENTS:
        return _escape(segment[0]) + segment[1:]
    return segment


class RunIdConverter:
    """`<run_id:run_id>`: what to_url escapes, reverse() percent-encodes once more
    (`%2F` → `%252F`); the server decodes that back to `%2F`, and to_python to `/`."""

    regex = ".+"

    def to_python(self, value: str) -> str:
        return unquote(value)

    def to_url(self, value: str) -> str:
        return "/".join(_segment_to_url(segment) for segment in value.split("/"))


class ApiRunIdConverter:
    """`<api_run_id:run_id>`: an id in an API path as the client percent-encoded it,
    any character included (`<path:...>`'s `.+` stops at a newline)."""

    regex = r"[\s\S]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


# Registered here, once, for every URL module that takes a run id (runs and shares).
register_converter(RunIdConverter, "run_id")
register_converter(ApiRunIdConverter, "api_run_id")
