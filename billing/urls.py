from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("usage/", views.usage, name="usage"),
    path("revenue/", views.revenue, name="revenue"),
    path("revenue/export.csv", views.revenue_export, name="revenue_export"),
    path("settings/prices/", views.prices, name="prices"),
    path("settings/prices/<int:price_id>/", views.price_edit, name="price_edit"),
    path(
        "settings/prices/tools/<int:price_id>/delete/",
        views.tool_price_remove,
        name="tool_price_delete",
    ),
]
