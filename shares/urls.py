from django.urls import path

from shares import views

app_name = "shares"

urlpatterns = [
    path("runs/<str:run_id>/share/", views.share_create, name="create"),
    path("settings/shares/<int:link_id>/revoke/", views.share_revoke, name="revoke"),
    path("share/<str:token>/", views.shared_page, name="view"),
]
