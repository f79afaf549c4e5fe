from django.contrib import admin

from shares.models import ShareLink


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = ("prefix", "project", "run", "created_by", "expires_at", "revoked_at")
    readonly_fields = ("prefix", "token_hash", "run", "project", "created_at", "view_count")
