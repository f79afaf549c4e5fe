"""What the pipeline keeps: the inbox of raw batches, runs and what happened in them.

Every large table carries `project_id` and is read through it, so the tables can be
distributed by project later (DESIGN.md section 5b). `Event` is partitioned by day on
`ts`; its table is created by a hand-written migration.
"""

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models.expressions import RawSQL

from studio.models import Project


class IngestBatch(models.Model):
    """The events of one accepted request whose runs fall in one shard, stored before
    the 202 and applied by a worker. A request whose runs fall in several shards is
    stored as one row per shard (its rejections on the first): batches of different
    shards share no run, so workers apply them side by side without waiting on each
    other's run locks."""

    class Status(models.TextChoices):
        PENDING = "pending"
        APPLIED = "applied"
        FAILED = "failed"

    # batch_project_idx leads with it: a lone index on it would be written for nothing.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="batches", db_index=False
    )
    source = models.CharField(max_length=16, default="http")  # http, stdout, cli
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    received_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    event_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    rejections = models.JSONField(default=list, blank=True)  # the first rejections, for health
    noted_count = models.PositiveIntegerField(default=0)  # lines kept as logs, with a reason
    duplicate_count = models.PositiveIntegerField(default=0)
    late_count = models.PositiveIntegerField(default=0)  # events for runs already finished
    payload = models.TextField()  # JSON array of the validated events
    shard = models.PositiveSmallIntegerField(default=0)  # see runs.ingest.inbox.shard_of

    class Meta:
        indexes = [
            models.Index(
                fields=["received_at"],
                name="batch_pending_idx",
                condition=models.Q(status="pending"),
            ),
            models.Index(fields=["project", "-received_at"], name="batch_project_idx"),
            # Failed batches are few and wait for a retry: the ingest alert counts them
            # every minute without reading the project's applied ones.
            models.Index(
                fields=["project"], name="batch_failed_idx", condition=models.Q(status="failed")
            ),
        ]


class Run(models.Model):
    # Every run index leads with project_id: a lone one would be written for nothing.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="runs", db_index=False
    )
    run_id = models.CharField(max_length=128)
    agent_name = models.CharField(max_length=200, blank=True)
    agent_version = models.CharField(max_length=100, blank=True)
    environment = models.CharField(max_length=10, default="cloud")
    status = models.CharField(max_length=20, default="running")
    status_message = models.TextField(blank=True)
    # The event that set `status`: a terminal status beats any other, then the latest
    # (ts, seq, event_id) wins, so late or re-sent events never regress a run.
    status_terminal = models.BooleanField(default=False)  # settled: finished or suspended
    status_rank = models.SmallIntegerField(default=0)  # runs.ingest.runstate.status_rank
    status_ts = models.DateTimeField(null=True)
    status_seq = models.BigIntegerField(default=-1)
    status_event_id = models.CharField(max_length=64, blank=True)
    stalled = models.BooleanField(default=False)
    started_at = models.DateTimeField()
    has_run_start = models.BooleanField(default=False)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.BigIntegerField(null=True, blank=True)
    first_event_at = models.DateTimeField()
    last_event_at = models.DateTimeField()
    inputs = models.JSONField(null=True, blank=True)
    outputs = models.JSONField(null=True, blank=True)
    input_fingerprint = models.CharField(max_length=32, blank=True)
    runtime = models.JSONField(default=dict, blank=True)
    config = models.JSONField(default=dict, blank=True)
    error_type = models.CharField(max_length=200, blank=True)
    error_message = models.TextField(blank=True)
    error_group = models.ForeignKey(
        "ErrorGroup",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runs",
        db_index=False,  # run_error_group_idx leads with it
    )
    event_count = models.PositiveIntegerField(default=0)
    tool_calls = models.PositiveIntegerField(default=0)
    tool_errors = models.PositiveIntegerField(default=0)
    llm_calls = models.PositiveIntegerField(default=0)
    token_count = models.BigIntegerField(default=0)  # streamed tokens
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=20, decimal_places=10, default=0)
    unpriced_calls = models.PositiveIntegerField(default=0)
    revenue = models.JSONField(default=dict, blank=True)  # {"USD": "12.50"}: never mixed
    # From Charm's own streams (and protocol v1 events of the same meaning).
    output_format = models.CharField(max_length=20, blank=True)  # markdown, json, ...
    exit_code = models.IntegerField(null=True, blank=True)  # the process's, when known
    state = models.JSONField(null=True, blank=True)  # the agent's latest state snapshot
    thread_id = models.CharField(max_length=200, blank=True)  # a suspended run's thread
    next_step = models.TextField(blank=True)
    artifacts = models.JSONField(default=list, blank=True)  # [{name, url, mime, ts}]
    tool_usage = models.JSONField(default=dict, blank=True)  # {tool: billable uses}
    search = models.GeneratedField(
        expression=RawSQL(
            "to_tsvector('simple'::regconfig, run_id || ' ' || agent_name || ' ' || "
            "coalesce(left(inputs::text, 20000), '') || ' ' || error_type || ' ' || "
            "left(error_message, 2000))",
            [],
        ),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "run_id"], name="run_id_per_project")
        ]
        indexes = [
            # The INCLUDE columns let the runs list count statuses by index-only scans.
            models.Index(
                fields=["project", "-started_at", "-id"],
                name="run_started_idx",
                include=["environment", "status", "stalled"],
            ),
            models.Index(fields=["project", "status", "-started_at", "-id"], name="run_status_idx"),
            models.Index(
                fields=["project", "agent_name", "-started_at", "-id"],
                name="run_agent_idx",
                include=["status", "stalled"],
            ),
            models.Index(
                fields=["project", "-duration_ms", "-id"],
                name="run_duration_idx",
                condition=models.Q(duration_ms__isnull=False),
            ),
            models.Index(fields=["project", "input_fingerprint"], name="run_input_idx"),
            # Not keyed on last_event_at, which moves with every batch of a live run: an
            # update that changes no indexed column is made in place (a HOT update), and
            # writes none of these eleven indexes. The unfinished runs are few to filter.
            models.Index(
                fields=["project"],
                name="run_active_idx",
                condition=models.Q(status_terminal=False),
            ),
            models.Index(fields=["error_group", "-started_at"], name="run_error_group_idx"),
            models.Index(
                fields=["project", "thread_id", "started_at"],
                name="run_thread_idx",
                condition=~models.Q(thread_id=""),
            ),
            GinIndex(fields=["search"], name="run_search_idx"),
        ]

    def __str__(self) -> str:
        return self.run_id


class Event(models.Model):
    """One stored event (all types but `llm_new_token`, which folds into LlmCall).

    Partitioned by day on `ts`; the primary key includes `ts` because PostgreSQL
    requires the partition column in every unique key.
    """

    pk = models.CompositePrimaryKey("project_id", "event_id", "ts")
    project_id = models.IntegerField()
    event_id = models.CharField(max_length=64)
    ts = models.DateTimeField()
    run_pk = models.BigIntegerField()
    type = models.CharField(max_length=16)
    seq = models.BigIntegerField(null=True)
    data = models.JSONField()
    received_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "runs_event"


class ToolSpan(models.Model):
    project_id = models.IntegerField()
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="spans", db_index=False
    )  # span_key_per_run leads with it
    span_key = models.CharField(max_length=200)
    explicit = models.BooleanField(default=True)  # paired by span_id, not by order
    tool_name = models.CharField(max_length=200)
    status = models.CharField(max_length=10)  # ok, error, open
    started_at = models.DateTimeField(null=True)
    ended_at = models.DateTimeField(null=True)
    input_str = models.TextField(blank=True)
    output = models.JSONField(null=True)
    error = models.JSONField(null=True)
    start_event_id = models.CharField(max_length=64, blank=True)
    end_event_id = models.CharField(max_length=64, blank=True)
    # The seq of the start and end events: with their time and id, they order a span's
    # events, so a span patched by its span_id keeps its earliest start and end.
    start_seq = models.BigIntegerField(null=True)
    end_seq = models.BigIntegerField(null=True)
    attributes = models.JSONField(null=True)  # what the start sent beyond the protocol's fields

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "span_key"], name="span_key_per_run")]


class LlmCall(models.Model):
    """One LLM call: its streamed tokens folded into one row, plus its usage and cost."""

    project_id = models.IntegerField()
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="llm_calls_set", db_index=False
    )  # call_id_per_run leads with it
    call_id = models.CharField(max_length=160)
    model = models.CharField(max_length=200, blank=True)
    tokens = models.JSONField(default=list)  # runs.tokens stored form, ordered
    text = models.TextField(blank=True)
    token_count = models.PositiveIntegerField(default=0)
    first_token_at = models.DateTimeField(null=True)
    last_token_at = models.DateTimeField(null=True)
    usage_at = models.DateTimeField(null=True)
    # A call told whole (llm_call: an OTLP span, a client that does not stream): when it
    # was sent and answered, what it was sent, and the rest it carried (attributes, error).
    started_at = models.DateTimeField(null=True)
    ended_at = models.DateTimeField(null=True)
    prompt = models.JSONField(null=True)
    details = models.JSONField(default=dict)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=20, decimal_places=10, null=True)  # None: unpriced
    price = models.ForeignKey(
        "billing.ModelPrice", null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "call_id"], name="call_id_per_run")]

    @property
    def has_usage(self) -> bool:
        return self.usage_at is not None


class ErrorGroup(models.Model):
    """Errors that share a fingerprint (type, normalized message, top frames)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="error_groups")
    fingerprint = models.CharField(max_length=32)
    fingerprint_version = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=10)  # run (the run crashed) or tool
    error_type = models.CharField(max_length=200)
    title = models.CharField(max_length=300)
    message = models.TextField()  # a sample of the raw message
    traceback = models.TextField(blank=True)  # a sample
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    event_count = models.PositiveIntegerField(default=0)
    run_count = models.PositiveIntegerField(default=0)
    agents = ArrayField(models.CharField(max_length=200), default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "fingerprint"], name="fingerprint_per_project"
            )
        ]
        indexes = [models.Index(fields=["project", "-last_seen"], name="error_group_seen_idx")]


class ErrorOccurrence(models.Model):
    """One error event in one run, so a group can list its runs."""

    project_id = models.IntegerField()
    group = models.ForeignKey(ErrorGroup, on_delete=models.CASCADE, related_name="occurrences")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="error_occurrences")
    event_id = models.CharField(max_length=64)
    ts = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project_id", "event_id"], name="occurrence_event_per_project"
            )
        ]
        indexes = [
            models.Index(fields=["group", "-ts"], name="occurrence_group_idx"),
            models.Index(fields=["group", "run"], name="occurrence_group_run_idx"),
        ]


class ErrorGroupDaily(models.Model):
    group = models.ForeignKey(ErrorGroup, on_delete=models.CASCADE, related_name="daily")
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "day"], name="error_group_day")]


class UsageSums(models.Model):
    """The sums every usage rollup keeps."""

    runs = models.IntegerField(default=0)
    failures = models.IntegerField(default=0)
    finished = models.IntegerField(default=0)
    duration_ms_sum = models.BigIntegerField(default=0)
    llm_calls = models.IntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=24, decimal_places=10, default=0)
    unpriced_calls = models.IntegerField(default=0)

    class Meta:
        abstract = True


# The sums of a usage rollup row, and the token counts a run, a call and a rollup keep.
USAGE_SUMS = tuple(field.name for field in UsageSums._meta.local_fields)
TOKEN_COUNTS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


class UsageHourly(UsageSums):
    """Rollup per hour × agent × model × environment: what the usage page reads.

    Run rows (runs, failures, durations) use model ''; token and cost rows carry the model.
    """

    project_id = models.IntegerField()
    hour = models.DateTimeField()
    agent_name = models.CharField(max_length=200)
    model = models.CharField(max_length=200)
    environment = models.CharField(max_length=10)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project_id", "hour", "agent_name", "model", "environment"],
                name="usage_hourly_key",
            )
        ]


class DurationHourly(models.Model):
    """Finished runs per hour × agent × environment × log-scale duration bucket,
    so latency percentiles come from a rollup instead of scanning runs."""

    project_id = models.IntegerField()
    hour = models.DateTimeField()
    agent_name = models.CharField(max_length=200)
    environment = models.CharField(max_length=10)
    bucket = models.SmallIntegerField()
    count = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project_id", "hour", "agent_name", "environment", "bucket"],
                name="duration_hourly_key",
            )
        ]


class UsageDaily(UsageSums):
    """`UsageHourly` summed per UTC day, written by the worker in the same transaction
    from the same delta (`runs.ingest.rollups.daily_key`): what ranges of whole days read."""

    project_id = models.IntegerField()
    day = models.DateField()
    agent_name = models.CharField(max_length=200)
    model = models.CharField(max_length=200)
    environment = models.CharField(max_length=10)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project_id", "day", "agent_name", "model", "environment"],
                name="usage_daily_key",
            )
        ]


class DurationDaily(models.Model):
    """`DurationHourly` summed per UTC day (same buckets, so the same percentiles)."""

    project_id = models.IntegerField()
    day = models.DateField()
    agent_name = models.CharField(max_length=200)
    environment = models.CharField(max_length=10)
    bucket = models.SmallIntegerField()
    count = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project_id", "day", "agent_name", "environment", "bucket"],
                name="duration_daily_key",
            )
        ]


class ValidationReport(models.Model):
    """The output of one `charm validate`, sent for an agent: the latest one for a run's
    agent is the debug checklist's validation row."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="validations")
    agent_name = models.CharField(max_length=200)
    agent_version = models.CharField(max_length=100, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    passed = models.BooleanField()  # no ✖ line
    error_count = models.PositiveIntegerField(default=0)
    warning_count = models.PositiveIntegerField(default=0)
    lines = models.JSONField(default=list)  # [{"level": "error|warning|ok|info", "text": ...}]
    raw = models.TextField()

    class Meta:
        indexes = [
            models.Index(
                fields=["project", "agent_name", "-received_at"], name="validation_agent_idx"
            )
        ]
