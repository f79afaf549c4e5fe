"""Reads for the error pages. Every function takes the project: no query reaches
another project's groups, occurrences or runs."""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from runs.models import ErrorGroup, ErrorGroupDaily, ErrorOccurrence, Run
from runs.selectors.runs import FilterError
from studio.models import Project

ERROR_KINDS = {"run": "Run crashes", "tool": "Tool errors"}
ERROR_SORTS = {"last_seen": "Last seen", "count": "Most events"}
MAX_PAGE = 100
# Occurrences read per page of runs: a run with many occurrences of the same error
# must not make the page unbounded.
OCCURRENCES_PER_RUN = 4


class _CursorError(ValueError):
    pass


@dataclass(frozen=True)
class ErrorFilters:
    kind: str = ""
    agent: str = ""
    q: str = ""
    sort: str = "last_seen"

    @classmethod
    def from_params(cls, params) -> "ErrorFilters":
        """Parse query parameters (a QueryDict or dict), raising FilterError."""
        kind = (params.get("kind") or "").strip()
        if kind and kind not in ERROR_KINDS:
            raise FilterError(f"kind: use run or tool; got {kind!r}")
        sort = (params.get("sort") or "last_seen").strip()
        if sort not in ERROR_SORTS:
            raise FilterError(f"sort: use last_seen or count; got {sort!r}")
        return cls(
            kind=kind,
            agent=(params.get("agent") or "").strip()[:200],
            q=(params.get("q") or "").strip()[:200],
            sort=sort,
        )

    @property
    def active(self) -> bool:
        return bool(self.kind or self.agent or self.q)


@dataclass
class ErrorGroupPage:
    groups: list[ErrorGroup]
    next_cursor: str | None


def error_groups_filtered(*, project: Project, filters: ErrorFilters) -> QuerySet[ErrorGroup]:
    """The project's error groups matching the filters, unordered."""
    groups = ErrorGroup.objects.filter(project=project)
    if filters.kind:
        groups = groups.filter(kind=filters.kind)
    if filters.agent:
        groups = groups.filter(agents__contains=[filters.agent])
    if filters.q:
        groups = groups.filter(Q(title__icontains=filters.q) | Q(error_type__icontains=filters.q))
    return groups


def error_groups_page(
    *, project: Project, filters: ErrorFilters, cursor: str | None = None, limit: int = 50
) -> ErrorGroupPage:
    """One page of groups, most recently seen (or most frequent) first, by keyset."""
    limit = max(1, min(limit, MAX_PAGE))
    groups = error_groups_filtered(project=project, filters=filters).defer("traceback")
    if filters.sort == "count":
        groups = groups.order_by("-event_count", "-id")
    else:
        groups = groups.order_by("-last_seen", "-id")
    if cursor:
        groups = groups.filter(_group_after(cursor, filters.sort))
    rows = list(groups[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        value = last.event_count if filters.sort == "count" else last.last_seen.isoformat()
        next_cursor = _encode([value, last.pk])
    return ErrorGroupPage(groups=rows[:limit], next_cursor=next_cursor)


def _group_after(cursor: str, sort: str) -> Q:
    try:
        value, pk = _decode(cursor)
        if sort == "count":
            count = int(value)
            return Q(event_count__lt=count) | Q(event_count=count, id__lt=int(pk))
        seen = datetime.fromisoformat(value)
        return Q(last_seen__lt=seen) | Q(last_seen=seen, id__lt=int(pk))
    except (_CursorError, ValueError, TypeError):
        raise FilterError(
            "cursor: not a cursor this list gave out; start again without it"
        ) from None


def error_trends(
    *, project: Project, group_ids: list[int], days: int = 14, today: date | None = None
) -> dict[int, list[int]]:
    """Events per day for each group over the last `days` days (oldest first), one query."""
    today = today or timezone.now().date()
    start = today - timedelta(days=days - 1)
    trends = {group_id: [0] * days for group_id in group_ids}
    if not group_ids:
        return trends
    rows = ErrorGroupDaily.objects.filter(
        group__project=project, group_id__in=group_ids, day__gte=start, day__lte=today
    ).values_list("group_id", "day", "count")
    for group_id, day, count in rows:
        trends[group_id][(day - start).days] += count
    return trends


def error_group_get(*, project: Project, group_id: int) -> ErrorGroup | None:
    """The project's group with this id, or None (also for another project's group)."""
    return ErrorGroup.objects.filter(project=project, pk=group_id).first()


def error_group_daily(
    *, project: Project, group: ErrorGroup, days: int = 30, today: date | None = None
) -> list[tuple[date, int]]:
    """(day, events) for each of the last `days` days, zeros included, oldest first."""
    trend = error_trends(project=project, group_ids=[group.pk], days=days, today=today)
    start = (today or timezone.now().date()) - timedelta(days=days - 1)
    return [(start + timedelta(days=n), count) for n, count in enumerate(trend[group.pk])]


@dataclass
class ErrorRun:
    run: Run
    last_seen: datetime  # the newest occurrence in this run (on this page)
    occurrences: int


@dataclass
class ErrorRunPage:
    runs: list[ErrorRun]
    next_cursor: str | None


def error_group_runs(
    *, project: Project, group: ErrorGroup, cursor: str | None = None, limit: int = 50
) -> ErrorRunPage:
    """The runs the group hit, newest occurrence first, with their occurrences counted.

    Reads at most limit × OCCURRENCES_PER_RUN occurrences by index; a run whose
    occurrences straddle two pages can show on both.
    """
    limit = max(1, min(limit, MAX_PAGE))
    fetch = limit * OCCURRENCES_PER_RUN
    occurrences = (
        ErrorOccurrence.objects.filter(project_id=project.pk, group=group)
        .select_related("run")
        .defer(*(f"run__{name}" for name in ("inputs", "outputs", "runtime", "config", "search")))
        .order_by("-ts", "-id")
    )
    if cursor:
        try:
            value, pk = _decode(cursor)
            ts = datetime.fromisoformat(value)
            occurrences = occurrences.filter(Q(ts__lt=ts) | Q(ts=ts, id__lt=int(pk)))
        except (_CursorError, ValueError, TypeError):
            raise FilterError("cursor: not a cursor this list gave out") from None
    rows = list(occurrences[:fetch])
    by_run: dict[int, ErrorRun] = {}
    next_cursor = None
    previous = None
    for occurrence in rows:
        seen = by_run.get(occurrence.run_id)
        if seen is None and len(by_run) == limit:
            next_cursor = _encode([previous.ts.isoformat(), previous.pk])
            break
        if seen is None:
            by_run[occurrence.run_id] = ErrorRun(occurrence.run, occurrence.ts, 1)
        else:
            seen.occurrences += 1
        previous = occurrence
    else:
        if len(rows) == fetch:
            next_cursor = _encode([rows[-1].ts.isoformat(), rows[-1].pk])
    return ErrorRunPage(runs=list(by_run.values()), next_cursor=next_cursor)


def _encode(value: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _decode(cursor: str) -> list:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error) as error:
        raise _CursorError(str(error)) from None
    if not isinstance(value, list) or len(value) != 2:
        raise _CursorError("not a pair")
    return value
