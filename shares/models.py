"""Share links: a read-only, expiring, revocable link to one run's debug view."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from studio.models import Project


class ShareLink(models.Model):
    """Only the SHA-256 of the link's token is stored: a leaked database leaks no link."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="share_links")
    run = models.ForeignKey("runs.Run", on_delete=models.CASCADE, related_name="share_links")
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)  # the token's start, to recognise a link by
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="share_links",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    view_count = models.PositiveIntegerField(default=0)
    last_viewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="share_project_time")]

    def __str__(self) -> str:
        return f"share {self.prefix}… of {self.run_id}"

    @property
    def state(self) -> str:
        """active, expired or revoked."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"
