"""Billing: model prices, revenue events and their daily rollups. Money is Decimal."""

from django.db import models

from studio.models import Organization, Project


class ModelPrice(models.Model):
    """Price per 1M tokens for models matching a pattern, from a date on.

    Rows with no organization are the shipped defaults; an organization's own rows
    win over them for the same pattern.
    """

    class Match(models.TextChoices):
        EXACT = "exact"
        PREFIX = "prefix"
        GLOB = "glob"

    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="prices"
    )
    model_pattern = models.CharField(max_length=200)
    match = models.CharField(max_length=10, choices=Match.choices, default=Match.PREFIX)
    effective_from = models.DateField()
    input_per_m = models.DecimalField(max_digits=14, decimal_places=6)
    output_per_m = models.DecimalField(max_digits=14, decimal_places=6)
    cache_read_per_m = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    cache_write_per_m = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    currency = models.CharField(max_length=3, default="USD")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model_pattern", "-effective_from"]

    def __str__(self) -> str:
        return f"{self.model_pattern} from {self.effective_from}"


class RevenueEvent(models.Model):
    """A billing event; idempotent by event_id and, when given, by external_id."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="revenue")
    event_id = models.CharField(max_length=64)
    external_id = models.CharField(max_length=200, null=True, blank=True)
    run = models.ForeignKey(
        "runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="revenue_events"
    )
    agent_name = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=12)  # charge, refund, credit, payout, subscription
    amount = models.DecimalField(max_digits=20, decimal_places=6)
    currency = models.CharField(max_length=3)
    customer = models.CharField(max_length=200, blank=True)
    refund_of = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    ts = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "event_id"], name="revenue_event_id"),
            models.UniqueConstraint(
                fields=["project", "external_id"],
                name="revenue_external_id",
                condition=models.Q(external_id__isnull=False),
            ),
        ]
        indexes = [
            models.Index(fields=["project", "-ts", "-id"], name="revenue_ts_idx"),
            models.Index(fields=["project", "customer", "-ts"], name="revenue_customer_idx"),
        ]


class RevenueSums(models.Model):
    """The sums every revenue rollup keeps."""

    charges = models.DecimalField(max_digits=24, decimal_places=6, default=0)
    subscriptions = models.DecimalField(max_digits=24, decimal_places=6, default=0)
    refunds = models.DecimalField(max_digits=24, decimal_places=6, default=0)
    credits = models.DecimalField(max_digits=24, decimal_places=6, default=0)
    payouts = models.DecimalField(max_digits=24, decimal_places=6, default=0)
    events = models.IntegerField(default=0)

    class Meta:
        abstract = True


class RevenueDaily(RevenueSums):
    """Rollup per day × agent × customer × currency, kept by the worker.

    net = charges + subscriptions − refunds − credits; payouts are shown apart.
    """

    project_id = models.IntegerField()
    day = models.DateField()
    agent_name = models.CharField(max_length=200)
    customer = models.CharField(max_length=200)
    currency = models.CharField(max_length=3)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project_id", "day", "agent_name", "customer", "currency"],
                name="revenue_daily_key",
            )
        ]
        indexes = [
            # The page filtered to one customer reads only that customer's days.
            models.Index(
                fields=["project_id", "customer", "day"], name="revenue_daily_customer_idx"
            )
        ]


class RevenueWeekly(RevenueSums):
    """`RevenueDaily` summed per week of the month: days 1–7, 8–14, 15–21, 22–28 and
    29 to the end (`week` is the first of them). Not calendar weeks: these nest in
    months, so the customer table can read a range's edges a week at a time."""

    project_id = models.IntegerField()
    week = models.DateField()
    agent_name = models.CharField(max_length=200)
    customer = models.CharField(max_length=200)
    currency = models.CharField(max_length=3)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project_id", "week", "agent_name", "customer", "currency"],
                name="revenue_weekly_key",
            )
        ]


class RevenueMonthly(RevenueSums):
    """`RevenueDaily` summed per calendar month (`month` is its first day)."""

    project_id = models.IntegerField()
    month = models.DateField()
    agent_name = models.CharField(max_length=200)
    customer = models.CharField(max_length=200)
    currency = models.CharField(max_length=3)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project_id", "month", "agent_name", "customer", "currency"],
                name="revenue_monthly_key",
            )
        ]


class RevenueAgentDaily(RevenueSums):
    """`RevenueDaily` without the customer: day × agent × currency. What the time
    series and the per-agent table read."""

    project_id = models.IntegerField()
    day = models.DateField()
    agent_name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project_id", "day", "agent_name", "currency"],
                name="revenue_agent_daily_key",
            )
        ]


class ToolPrice(models.Model):
    """Price per billable use of a tool (Charm's `tool_usage`), from a date on."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="tool_prices"
    )
    tool = models.CharField(max_length=200)
    unit_price = models.DecimalField(max_digits=20, decimal_places=10)
    currency = models.CharField(max_length=3, default="USD")
    effective_from = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tool", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "tool", "effective_from"], name="tool_price_per_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.tool} from {self.effective_from}"


class ToolUsageDaily(models.Model):
    """Billable tool uses per UTC day (of the run's start) × agent × tool, kept by the
    worker; priced at read time from `ToolPrice`, so a price edit needs no re-pricing."""

    project_id = models.IntegerField()
    day = models.DateField()
    agent_name = models.CharField(max_length=200)
    tool = models.CharField(max_length=200)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project_id", "day", "agent_name", "tool"], name="tool_usage_daily_key"
            )
        ]


class ToolUsageHourly(models.Model):
    """Billable tool uses per hour (of the run's start) × agent × environment × tool,
    written with `ToolUsageDaily` from the same runs: what the cost-spike alert reads,
    as model cost comes from `UsageHourly`."""

    project_id = models.IntegerField()
    hour = models.DateTimeField()
    agent_name = models.CharField(max_length=200)
    environment = models.CharField(max_length=10)
    tool = models.CharField(max_length=200)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project_id", "hour", "agent_name", "environment", "tool"],
                name="tool_usage_hourly_key",
            )
        ]
