"""How a run page is shown: to a member, as stored and with links into the
organization, or through a share link, redacted and with nothing else of it.

The run page's context builders take a `Presentation`; the redaction itself is the
share link's (shares.redaction), applied to the data before any template sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Redact(Protocol):
    def text(self, value: str) -> str: ...

    def value(self, value: object) -> object: ...

    def cut_text(self, value: str) -> str:
        """A text cut short by a read (a preview, a long log line)."""
        ...


class _AsStored:
    def text(self, value: str) -> str:
        return value

    def value(self, value: object) -> object:
        return value

    def cut_text(self, value: str) -> str:
        return value


AS_STORED = _AsStored()


@dataclass(frozen=True)
class Presentation:
    redact: Redact = AS_STORED
    shared: bool = False  # through a share link: no links out, no money, no search


MEMBER = Presentation()
