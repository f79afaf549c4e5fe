"""Tenancy: organizations, their members and roles, projects and API keys."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

RETENTION_MIN_DAYS, RETENTION_MAX_DAYS = 1, 3650


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    DEVELOPER = "developer", "Developer"
    SUPPORT = "support", "Support"
    FINANCE = "finance", "Finance"
    VIEWER = "viewer", "Viewer"


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="one_membership_per_org")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} as {self.role}"


class Project(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="projects"
    )
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    stall_after_seconds = models.PositiveIntegerField(
        default=600, help_text="A running run with no event for this long is flagged stalled."
    )
    # Regular expressions, one a line, whose matches shared run pages show as [redacted].
    redaction_patterns = models.TextField(blank=True, default="")
    # Days raw events are kept; None keeps them EVENT_RETENTION_DAYS. Runs, calls, spans,
    # errors and rollups are kept whatever this says (runs.retention).
    event_retention_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(RETENTION_MIN_DAYS), MaxValueValidator(RETENTION_MAX_DAYS)],
    )
    # Raw events before this time may have been removed by retention: run pages say so
    # instead of showing a timeline that looks complete. It only moves forward.
    events_purged_before = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "slug"], name="project_slug_per_org")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.organization.slug}/{self.slug}"


class Scope(models.TextChoices):
    INGEST = "ingest", "Ingest events"
    READ = "read", "Read runs"


class ApiKey(models.Model):
    """A project key. Only its SHA-256 is stored; the prefix is kept to recognise it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=200, blank=True)
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = ArrayField(models.CharField(max_length=20, choices=Scope.choices))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({', '.join(self.scopes)})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class AuditEntry(models.Model):
    """Who did what in an organization: kept for owners to review, never edited."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="audit_entries"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )  # None: done from the command line
    action = models.CharField(max_length=64)  # e.g. "share_link.created"
    target = models.CharField(max_length=300)  # what it was done to, as text
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="audit_org_time"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target}"
