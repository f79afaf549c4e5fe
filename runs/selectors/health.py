"""Ingest health: is a project's data arriving, waiting, failing or being refused?

So a team can tell "no runs" from "our events are being refused". Reads the inbox
(``IngestBatch``) of one project only, in four queries. Rejection messages are grouped
by a normalized form (``rejection_reason``): indexes, quoted values and numbers out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.models import Count, F, Max, Min, Q, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from runs.models import IngestBatch
from studio.models import Project

WINDOW_HOURS = 24
FAILED_SHOWN = 20
REJECTION_BATCHES_READ = 500
REASONS_SHOWN = 20

_DOUBLE_QUOTED = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_SINGLE_QUOTED = re.compile(r"(?<!\w)'(?:[^'\\\n]|\\.)*'(?!\w)")
_INDEX = re.compile(r"\[\d+\]")
# Numbers, also with thousands separators and decimals, but not the version in a name
# ("RFC 3339", "ISO 4217", "UTF-8") that is the same in every message.
_NUMBER = re.compile(
    r"(?<![\w.])(?<!RFC )(?<!ISO )(?<!UTF-)-?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w])"
)
_SPACES = re.compile(r"\s+")
MAX_REASON_LENGTH = 300


def rejection_reason(message: str) -> str:
    """A rejection message with what varies from event to event taken out, so the same
    reason groups: ``data.items[3]: expected a string, got number 5`` becomes
    ``data.items[…]: expected a string, got number N``; quoted values become "…"."""
    text = _DOUBLE_QUOTED.sub('"…"', message[:2000])
    text = _SINGLE_QUOTED.sub("'…'", text)
    text = _INDEX.sub("[…]", text)
    text = _NUMBER.sub("N", text)
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= MAX_REASON_LENGTH else text[: MAX_REASON_LENGTH - 1] + "…"


@dataclass(frozen=True, slots=True)
class RejectionReason:
    reason: str
    count: int
    example: str  # one original message


def group_rejections(messages: Iterable[str]) -> list[RejectionReason]:
    """Messages grouped by ``rejection_reason``, the most frequent first; the example is
    the first message seen of each group."""
    counts: dict[str, int] = {}
    examples: dict[str, str] = {}
    for message in messages:
        reason = rejection_reason(message)
        counts[reason] = counts.get(reason, 0) + 1
        examples.setdefault(reason, message)
    ordered = sorted(counts, key=lambda reason: (-counts[reason], reason))
    return [RejectionReason(reason, counts[reason], examples[reason]) for reason in ordered]


@dataclass(frozen=True, slots=True)
class HourBucket:
    hour: datetime
    batches: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0


def hourly_buckets(rows: Iterable[dict], *, now: datetime, hours: int = WINDOW_HOURS) -> list:
    """One bucket per hour of the window, oldest first, empty hours included."""
    by_hour = {row["hour"]: row for row in rows}
    current = now.replace(minute=0, second=0, microsecond=0)
    buckets = []
    for back in range(hours - 1, -1, -1):
        hour = current - timedelta(hours=back)
        row = by_hour.get(hour, {})
        buckets.append(
            HourBucket(
                hour=hour,
                batches=row.get("batches") or 0,
                accepted=row.get("accepted") or 0,
                rejected=row.get("rejected") or 0,
                duplicates=row.get("duplicates") or 0,
            )
        )
    return buckets


@dataclass
class IngestHealth:
    now: datetime
    pending: int = 0
    oldest_pending_at: datetime | None = None
    failed: int = 0
    last_received_at: datetime | None = None
    total_batches: int = 0
    failed_batches: list[IngestBatch] = field(default_factory=list)
    hours: list[HourBucket] = field(default_factory=list)
    reasons: list[RejectionReason] = field(default_factory=list)
    reasons_sampled: bool = False  # some batches kept only their first rejections
    reasons_more: int = 0  # groups not shown

    @property
    def accepted(self) -> int:
        return sum(bucket.accepted for bucket in self.hours)

    @property
    def rejected(self) -> int:
        return sum(bucket.rejected for bucket in self.hours)

    @property
    def duplicates(self) -> int:
        return sum(bucket.duplicates for bucket in self.hours)

    @property
    def peak(self) -> int:
        return max((bucket.accepted + bucket.rejected for bucket in self.hours), default=0)

    @property
    def oldest_pending_seconds(self) -> float | None:
        if self.oldest_pending_at is None:
            return None
        return max(0.0, (self.now - self.oldest_pending_at).total_seconds())

    @property
    def refused_share(self) -> float | None:
        """Rejected events as a share of all received in the window, None without any."""
        received = self.accepted + self.rejected
        return self.rejected / received if received else None


def ingest_health(*, project: Project, now: datetime | None = None) -> IngestHealth:
    """The project's ingest health: pending and failed batches (all time), and what was
    accepted, rejected (grouped by reason) and duplicated in the last 24 hours.
    Four queries."""
    now = now or timezone.now()
    since = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=WINDOW_HOURS - 1)
    batches = IngestBatch.objects.filter(project=project)
    pending_q = Q(status=IngestBatch.Status.PENDING)
    totals = batches.aggregate(
        pending=Count("id", filter=pending_q),
        oldest_pending_at=Min("received_at", filter=pending_q),
        failed=Count("id", filter=Q(status=IngestBatch.Status.FAILED)),
        last_received_at=Max("received_at"),
        total=Count("id"),
    )
    failed_batches = list(
        batches.filter(status=IngestBatch.Status.FAILED)
        .defer("payload", "rejections")
        .order_by("-received_at", "-id")[:FAILED_SHOWN]
    )
    hourly = (
        batches.filter(received_at__gte=since)
        .annotate(hour=TruncHour("received_at", tzinfo=UTC))
        .values("hour")
        .annotate(
            batches=Count("id"),
            accepted=Sum("event_count"),
            rejected=Sum("rejected_count"),
            duplicates=Sum("duplicate_count"),
        )
        .order_by("hour")
    )
    rejected_rows = list(
        batches.filter(Q(rejected_count__gt=0) | Q(noted_count__gt=0), received_at__gte=since)
        .order_by("-received_at", "-id")
        .values_list("rejections", F("rejected_count") + F("noted_count"))[:REJECTION_BATCHES_READ]
    )
    messages = [
        str(item.get("error", ""))
        for rejections, _count in rejected_rows
        for item in (rejections or [])
        if isinstance(item, dict)
    ]
    reasons = group_rejections(messages)
    sampled = sum(count for _rejections, count in rejected_rows) > len(messages)
    return IngestHealth(
        now=now,
        pending=totals["pending"],
        oldest_pending_at=totals["oldest_pending_at"],
        failed=totals["failed"],
        last_received_at=totals["last_received_at"],
        total_batches=totals["total"],
        failed_batches=failed_batches,
        hours=hourly_buckets(hourly, now=now),
        reasons=reasons[:REASONS_SHOWN],
        reasons_sampled=sampled,
        reasons_more=max(0, len(reasons) - REASONS_SHOWN),
    )


def batch_get(*, project: Project, batch_id: int) -> IngestBatch | None:
    """One batch of ``project`` without its payload; None when it has no such batch."""
    return IngestBatch.objects.filter(project=project, pk=batch_id).defer("payload").first()
