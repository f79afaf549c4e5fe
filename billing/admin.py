"""The Django admin for billing: the price table (editing re-prices, like Settings does)
and a read-only view of billing events (they come from the pipeline, never by hand)."""

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from billing.models import ModelPrice, RevenueEvent
from billing.services import PRICE_FIELDS, PriceData, PriceError, price_changed, price_snapshot


class ModelPriceForm(forms.ModelForm):
    class Meta:
        model = ModelPrice
        fields = ("organization", *PRICE_FIELDS, "currency")

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        if data.get("currency") != "USD":
            raise forms.ValidationError("Costs are kept in USD: prices must be in USD.")
        try:
            PriceData(**{name: data[name] for name in PRICE_FIELDS}).check()
        except PriceError as error:
            raise forms.ValidationError(str(error).capitalize() + ".") from None
        return data


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    """Saving or deleting a row queues re-pricing of the calls it covered or covers;
    a shipped default (no organization) re-prices every organization."""

    form = ModelPriceForm
    list_display = (
        "model_pattern", "match", "effective_from", "input_per_m", "output_per_m",
        "cache_read_per_m", "cache_write_per_m", "organization",
    )  # fmt: skip
    list_filter = ("match", ("organization", admin.EmptyFieldListFilter))
    search_fields = ("model_pattern", "organization__name")
    ordering = ("model_pattern", "-effective_from")

    def save_model(self, request: HttpRequest, obj: ModelPrice, form, change: bool) -> None:
        before = price_snapshot(ModelPrice.objects.filter(pk=obj.pk).first()) if change else None
        super().save_model(request, obj, form, change)
        price_changed(before=before, after=obj)

    def delete_model(self, request: HttpRequest, obj: ModelPrice) -> None:
        before = price_snapshot(obj)
        super().delete_model(request, obj)
        price_changed(before=before, after=None)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        removed = [price_snapshot(row) for row in queryset]
        super().delete_queryset(request, queryset)
        for before in removed:
            price_changed(before=before, after=None)


@admin.register(RevenueEvent)
class RevenueEventAdmin(admin.ModelAdmin):
    list_display = ("ts", "kind", "amount", "currency", "customer", "agent_name", "external_id",
                    "refund_of", "project")  # fmt: skip
    list_filter = ("kind", "currency")
    search_fields = ("external_id", "refund_of", "customer", "event_id")
    list_select_related = ("project",)
    date_hierarchy = "ts"
    show_full_result_count = False  # no COUNT(*) over a million rows

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
