"""The Django admin for alerts: rules to edit, incidents and deliveries to read (the
evaluation pass and the workers write those). Webhook secrets are never listed."""

from django.contrib import admin
from django.http import HttpRequest

from alerts.models import Channel, Delivery, Incident, Rule


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "kind", "threshold", "window_minutes", "enabled",
                    "muted_until", "last_evaluated_at")  # fmt: skip
    list_filter = ("kind", "enabled")
    filter_horizontal = ("channels",)


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ("target", "type", "project", "masked_secret", "created_at")
    exclude = ("secret",)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    list_display = ("title", "rule", "status", "opened_at", "resolved_at", "muted")
    list_filter = ("status",)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "channel", "event", "status", "status_code", "attempts")
    list_filter = ("status", "event")
