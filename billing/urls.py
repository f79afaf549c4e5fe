from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("usage/", views.usage, name="usage"),
    path("revenue/", views.revenue, name="revenue"),
]
