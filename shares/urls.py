from django.urls import path

from runs import converters  # noqa: F401 - registers the run_id converter
from shares import views

app_name = "shares"

urlpatterns = [
    path("runs/<run_id:run_id>/share/", views.share_create, name="create"),
    path("settings/shares/<int:link_id>/revoke/", views.share_revoke, name="revoke"),
    path("share/<str:token>/", views.shared_page, name="view"),
]
