"""Alerts: rules per project, the incidents they open, channels and their deliveries."""

from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.db import models

from studio.models import Project


class Kind(models.TextChoices):
    FAILURE_RATE = "failure_rate", "Failure rate"
    NEW_ERROR_GROUP = "new_error_group", "New error group"
    STALLED = "stalled", "Stalled runs"
    COST_SPIKE = "cost_spike", "Cost spike"
    REFUNDS = "refunds", "Refunds per day"
    INGEST = "ingest", "Ingest backlog or failures"


class Channel(models.Model):
    """Where notifications go: an email address or a webhook URL."""

    class Type(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alert_channels")
    type = models.CharField(max_length=10, choices=Type.choices)
    target = models.CharField(max_length=500)  # the address or the URL
    # The webhook's HMAC key. Kept in clear because signing needs it; shown once.
    secret = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["type", "target"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "type", "target"], name="alert_channel_per_project"
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.target}"

    @property
    def masked_secret(self) -> str:
        return f"…{self.secret[-4:]}" if self.secret else ""

    @property
    def masked_target(self) -> str:
        """The target as members who cannot edit alerts see it: a webhook URL's path
        is often its credential (Slack's is), so only its site is shown."""
        if self.type != self.Type.WEBHOOK:
            return self.target
        parts = urlsplit(self.target)
        return f"{parts.scheme}://{parts.hostname or ''}/…"


class Rule(models.Model):
    """One condition to watch. What `threshold` and `window_minutes` mean depends on
    the kind (alerts.conditions); agent and environment narrow what is counted."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    threshold = models.DecimalField(max_digits=20, decimal_places=6)
    window_minutes = models.PositiveIntegerField(default=60)
    min_runs = models.PositiveIntegerField(default=10)
    agent_name = models.CharField(max_length=200, blank=True)
    environment = models.CharField(max_length=10, blank=True)
    currency = models.CharField(max_length=3, blank=True)  # refunds: blank means each one
    enabled = models.BooleanField(default=True)
    muted_until = models.DateTimeField(null=True, blank=True)
    channels = models.ManyToManyField(Channel, blank=True, related_name="rules")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def is_muted(self, now: datetime) -> bool:
        return self.muted_until is not None and self.muted_until > now


class Incident(models.Model):
    """A rule firing for one key (the rule as a whole, an error group, a currency):
    opened once, kept open while the condition holds, resolved once it has been clear
    for a while (settings.ALERT_RESOLVE_AFTER_SECONDS), so a flapping condition does
    not notify every minute."""

    class Status(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="incidents")
    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="incidents")
    key = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    title = models.CharField(max_length=300)
    summary = models.TextField()  # the latest numbers, one line
    link = models.CharField(max_length=1000)  # a path in Studio: runs list, error, run
    context = models.JSONField(default=dict)
    opened_at = models.DateTimeField()
    last_firing_at = models.DateTimeField()
    clear_since = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    muted = models.BooleanField(default=False)  # opened while the rule was muted

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            # At most one open incident per rule and key, whoever evaluates.
            models.UniqueConstraint(
                fields=["rule", "key"],
                name="one_open_incident_per_key",
                condition=models.Q(status="open"),
            )
        ]
        indexes = [models.Index(fields=["project", "status", "-opened_at"], name="incident_idx")]


class Delivery(models.Model):
    """One notification to one channel, and what became of it."""

    class Event(models.TextChoices):
        OPENED = "opened"
        RESOLVED = "resolved"
        TEST = "test"

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"  # gave up after the last attempt

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=10, choices=Event.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    payload = models.JSONField()  # the message: text, link and the incident's numbers
    attempts = models.PositiveIntegerField(default=0)
    status_code = models.IntegerField(null=True, blank=True)  # the webhook's last answer
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due_idx",
                condition=models.Q(status="pending"),
            ),
            models.Index(fields=["project", "-created_at"], name="delivery_project_idx"),
        ]
