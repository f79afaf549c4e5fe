"""The output of `charm validate`, read into lines with a level: pure, no Django.

`charm validate` prints Rich text (boxes when a terminal, plain otherwise): `✔` for a
check that passed, `⚠` for a warning, `✖` for a failure, and indented `- ...` lines
that explain the line above. A report passes when no line failed.
"""

import re
from dataclasses import dataclass, field

MAX_LINES = 2000
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_BOX = re.compile(r"[\u2500-\u257f]+")
_LEVELS = (
    (("✖", "✗", "❌", "✘"), "error"),
    (("⚠",), "warning"),
    (("✔", "✓", "✨", "✅"), "ok"),
)


@dataclass
class ValidationLines:
    lines: list[dict] = field(default_factory=list)  # {"level", "text"}
    errors: int = 0
    warnings: int = 0

    @property
    def passed(self) -> bool:
        return self.errors == 0


def validation_read(text: str) -> ValidationLines:
    """Each non-blank line with its level; explanation lines take their parent's level."""
    report = ValidationLines()
    parent = "info"
    for raw in text.splitlines():
        line = _BOX.sub(" ", _ANSI.sub("", raw)).strip()
        if not line:
            continue
        level = _level(line)
        if level is None:
            level = parent if line.startswith("- ") and parent != "ok" else "info"
        else:
            parent = level
            report.errors += level == "error"
            report.warnings += level == "warning"
        if len(report.lines) < MAX_LINES:
            report.lines.append({"level": level, "text": line})
    return report


def _level(line: str) -> str | None:
    for marks, level in _LEVELS:
        if line.startswith(marks):
            return level
    return None
