"""Usage reads: tokens, cost, runs, failures and latency from the rollups, never from
runs or events: the daily ones (`UsageDaily`, `DurationDaily`) when the chart's buckets
are whole UTC days, the hourly ones (`UsageHourly`, `DurationHourly`) otherwise. Both
hold the same sums and the same duration buckets, so the numbers are the same."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import DateTimeField, Expression, F, Func, QuerySet, Sum, Value
from django.utils import timezone

from runs.ingest.rollups import bucket_upper_ms
from runs.models import TOKEN_COUNTS, DurationDaily, DurationHourly, UsageDaily, UsageHourly
from studio.models import Project

ZERO = Decimal(0)
DAY = timedelta(days=1)


# Range name → (length, bucket width): about 24 to 90 points on every chart.
USAGE_RANGES: dict[str, tuple[timedelta, timedelta]] = {
    "24h": (timedelta(hours=24), timedelta(hours=1)),
    "7d": (timedelta(days=7), timedelta(hours=6)),
    "30d": (timedelta(days=30), timedelta(days=1)),
    "90d": (timedelta(days=90), timedelta(days=1)),
}
BUCKET_LABELS = {
    timedelta(hours=1): "hour", timedelta(hours=6): "6 hours", timedelta(days=1): "day",
}  # fmt: skip
USAGE_GROUPS = ("model", "agent", "environment")
_GROUP_FIELD = {"model": "model", "agent": "agent_name", "environment": "environment"}
NO_AGENT = "(no agent)"
PERCENTILES = (0.5, 0.95)


@dataclass(frozen=True)
class UsageParams:
    range: str = "7d"
    group: str = "model"

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> UsageParams:
        """Read `range` and `group` from query parameters; unknown values fall back to
        the defaults (a stale bookmark still opens the page)."""
        range_ = params.get("range") or cls.range
        group = params.get("group") or cls.group
        return cls(
            range=range_ if range_ in USAGE_RANGES else cls.range,
            group=group if group in USAGE_GROUPS else cls.group,
        )

    @property
    def runs_group(self) -> str:
        """Runs and latency are not per model: grouped by agent when usage is by model."""
        return "agent" if self.group == "model" else self.group


@dataclass
class TokenRow:
    """Token and cost totals of one group (a model, agent or environment)."""

    name: str
    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost: Decimal = ZERO
    unpriced_calls: int = 0

    @property
    def tokens(self) -> int:
        return sum(getattr(self, name) for name in TOKEN_COUNTS)


@dataclass
class RunRow:
    """Run counts and latency of one group (an agent or environment)."""

    name: str
    runs: int = 0
    finished: int = 0
    failures: int = 0
    duration_ms_sum: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None

    @property
    def failure_rate(self) -> float | None:
        """Failed / finished runs; None when none finished (not 0%: nothing to rate)."""
        return self.failures / self.finished if self.finished else None

    @property
    def mean_ms(self) -> float | None:
        return self.duration_ms_sum / self.finished if self.finished else None


@dataclass
class UsageReport:
    params: UsageParams
    start: datetime
    end: datetime
    bucket: str  # "hour", "6 hours" or "day", for labels
    buckets: list[datetime]
    # group name → one value per bucket, in `buckets` order
    tokens: dict[str, list[int]]
    cost: dict[str, list[Decimal]]
    runs: dict[str, list[int]]
    failures: list[int]  # all groups, per bucket
    finished: list[int]
    latency: dict[float, list[float | None]]  # percentile → per bucket, all groups
    token_rows: list[TokenRow]  # by total cost, then tokens
    run_rows: list[RunRow]  # by runs
    total: TokenRow
    run_total: RunRow

    @property
    def is_empty(self) -> bool:
        return not self.token_rows and not self.run_rows


def usage_report(
    *, project: Project, params: UsageParams, now: datetime | None = None
) -> UsageReport:
    """Tokens, cost, runs, failures and latency of `project` over the chosen range,
    per time bucket and per group, from the rollups. Three queries."""
    length, step = USAGE_RANGES[params.range]
    # The last bucket holds the current hour; buckets start on whole steps of UTC days.
    end = _ceil_to(_hour_floor(now or timezone.now()) + timedelta(hours=1), step)
    start = end - length
    buckets = [start + i * step for i in range(length // step)]
    source = _rollups(project, start, end, step, buckets)
    bucket_of, index_of, rows = source.bucket_of, source.index_of, source.usage

    token_field = _GROUP_FIELD[params.group]
    token_sums = (
        rows.exclude(model="")
        .annotate(b=bucket_of)
        .values("b", group=F(token_field))
        .annotate(
            llm_calls=Sum("llm_calls"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cache_read_tokens=Sum("cache_read_tokens"),
            cache_write_tokens=Sum("cache_write_tokens"),
            cost=Sum("cost"),
            unpriced_calls=Sum("unpriced_calls"),
        )
        .order_by()
    )
    tokens: dict[str, list[int]] = defaultdict(lambda: [0] * len(buckets))
    cost: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO] * len(buckets))
    token_rows: dict[str, TokenRow] = {}
    total = TokenRow(name="All")
    for row in token_sums:
        name = _group_name(params.group, row["group"])
        i = index_of(row["b"])
        group_row = token_rows.setdefault(name, TokenRow(name=name))
        for target in (group_row, total):
            for name_ in _TOKEN_SUMS:
                setattr(target, name_, getattr(target, name_) + row[name_])
        tokens[name][i] += _tokens_of(row)
        cost[name][i] += row["cost"]

    run_field = _GROUP_FIELD[params.runs_group]
    run_sums = (
        rows.filter(model="")
        .annotate(b=bucket_of)
        .values("b", group=F(run_field))
        .annotate(
            runs=Sum("runs"),
            finished=Sum("finished"),
            failures=Sum("failures"),
            duration_ms_sum=Sum("duration_ms_sum"),
        )
        .order_by()
    )
    runs: dict[str, list[int]] = defaultdict(lambda: [0] * len(buckets))
    failures, finished = [0] * len(buckets), [0] * len(buckets)
    run_rows: dict[str, RunRow] = {}
    run_total = RunRow(name="All")
    for row in run_sums:
        name = _group_name(params.runs_group, row["group"])
        i = index_of(row["b"])
        group_row = run_rows.setdefault(name, RunRow(name=name))
        for target in (group_row, run_total):
            for name_ in ("runs", "finished", "failures", "duration_ms_sum"):
                setattr(target, name_, getattr(target, name_) + row[name_])
        runs[name][i] += row["runs"]
        failures[i] += row["failures"]
        finished[i] += row["finished"]

    latency = _latency(source, len(buckets), params.runs_group, run_rows, run_total)
    return UsageReport(
        params=params,
        start=start,
        end=end,
        bucket=BUCKET_LABELS[step],
        buckets=buckets,
        tokens=dict(tokens),
        cost=dict(cost),
        runs=dict(runs),
        failures=failures,
        finished=finished,
        latency=latency,
        token_rows=sorted(token_rows.values(), key=lambda r: (-r.cost, -r.tokens, r.name)),
        run_rows=sorted(run_rows.values(), key=lambda r: (-r.runs, r.name)),
        total=total,
        run_total=run_total,
    )


_TOKEN_SUMS = ("llm_calls", *TOKEN_COUNTS, "cost", "unpriced_calls")


@dataclass(frozen=True)
class _Rollups:
    """The rows of one grain over the range, and how a row's time maps to a bucket."""

    usage: QuerySet
    durations: QuerySet
    bucket_of: Expression  # the row's bucket, as `b`
    index_of: Callable[[datetime | date], int]  # `b` → position in the buckets


def _rollups(
    project: Project, start: datetime, end: datetime, step: timedelta, buckets: list[datetime]
) -> _Rollups:
    """The daily rollups when each bucket is whole UTC days (a 90-day range reads 90
    rows per key instead of 2,160), else the hourly ones."""
    if _reads_daily(start, step):
        first, days = start.date(), step // DAY
        return _Rollups(
            usage=UsageDaily.objects.filter(
                project_id=project.id, day__gte=first, day__lt=end.date()
            ),
            durations=DurationDaily.objects.filter(
                project_id=project.id, day__gte=first, day__lt=end.date()
            ),
            bucket_of=F("day"),
            index_of=lambda day: (day - first).days // days,
        )
    index = {b: i for i, b in enumerate(buckets)}
    return _Rollups(
        usage=UsageHourly.objects.filter(project_id=project.id, hour__gte=start, hour__lt=end),
        durations=DurationHourly.objects.filter(
            project_id=project.id, hour__gte=start, hour__lt=end
        ),
        bucket_of=DateBin(step, "hour", start),
        index_of=index.__getitem__,
    )


def _reads_daily(start: datetime, step: timedelta) -> bool:
    """Whether buckets of `step` from `start` are whole UTC days (30 and 90 days)."""
    return step % DAY == timedelta(0) and start == _day_floor(start)


def _latency(
    source: _Rollups,
    bucket_count: int,
    group: str,
    run_rows: dict[str, RunRow],
    run_total: RunRow,
) -> dict[float, list[float | None]]:
    """Percentiles per time bucket (all groups) and per group, from duration histograms."""
    histograms = (
        source.durations.annotate(b=source.bucket_of)
        .values("b", "bucket", group=F(_GROUP_FIELD[group]))
        .annotate(count=Sum("count"))
        .order_by()
    )
    per_time: list[dict[int, int]] = [defaultdict(int) for _ in range(bucket_count)]
    per_group: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    overall: dict[int, int] = defaultdict(int)
    for row in histograms:
        name = _group_name(group, row["group"])
        per_time[source.index_of(row["b"])][row["bucket"]] += row["count"]
        per_group[name][row["bucket"]] += row["count"]
        overall[row["bucket"]] += row["count"]
    for name, histogram in per_group.items():
        run_row = run_rows.setdefault(name, RunRow(name=name))
        run_row.p50_ms, run_row.p95_ms = (histogram_percentile(histogram, q) for q in PERCENTILES)
    run_total.p50_ms, run_total.p95_ms = (histogram_percentile(overall, q) for q in PERCENTILES)
    return {q: [histogram_percentile(h, q) for h in per_time] for q in PERCENTILES}


def histogram_percentile(counts: Mapping[int, int], q: float) -> float | None:
    """The `q` quantile (0 < q ≤ 1) in ms of durations counted per log-scale bucket.

    Bucket b holds durations in (bucket_upper_ms(b - 1), bucket_upper_ms(b)]. The
    quantile's rank is found by cumulative count, then placed linearly inside its
    bucket, so the answer is within that bucket's bounds (each 25% wider than the
    last): an estimate, never off by more than one bucket's width. None if empty.
    """
    total = sum(counts.values())
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for bucket in sorted(counts):
        count = counts[bucket]
        if count <= 0:
            continue
        if seen + count >= rank:
            low = bucket_upper_ms(bucket - 1) if bucket > 0 else 0.0
            high = bucket_upper_ms(bucket)
            return max(0.0, low + (high - low) * (rank - seen) / count)
        seen += count
    return bucket_upper_ms(max(counts))


def _tokens_of(row: Mapping) -> int:
    return (
        row["input_tokens"]
        + row["output_tokens"]
        + row["cache_read_tokens"]
        + row["cache_write_tokens"]
    )


def _group_name(group: str, value: str) -> str:
    if group == "agent" and not value:
        return NO_AGENT
    return value or "(none)"


def _hour_floor(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _day_floor(ts: datetime) -> datetime:
    return _hour_floor(ts).replace(hour=0)


def _ceil_to(ts: datetime, step: timedelta) -> datetime:
    """The first multiple of `step` (counted from UTC midnight) at or after `ts`."""
    midnight = datetime.combine(ts.date(), time.min, tzinfo=UTC)
    steps = -(-(ts - midnight) // step)  # ceiling division
    return midnight + steps * step


class DateBin(Func):
    """PostgreSQL's date_bin(stride, ts, origin): the start of the stride holding ts.
    (Cheaper in the database than computing a bucket number from the epoch.)"""

    function = "date_bin"
    output_field = DateTimeField()

    def __init__(self, stride: timedelta, field: str, origin: datetime) -> None:
        super().__init__(Value(stride), F(field), Value(origin))


def usage_exists(*, project: Project) -> bool:
    """Whether the project ever reported a run or usage (for the empty state)."""
    return UsageHourly.objects.filter(project_id=project.id).exists()
