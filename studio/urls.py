from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from studio import signin, views

settings_patterns = (
    [
        path("", views.settings_index, name="index"),
        path("projects/", views.project_create, name="project_create"),
        path("members/", views.member_save, name="member_save"),
        path("members/<int:membership_id>/delete/", views.member_delete, name="member_delete"),
        path("keys/", views.key_create, name="key_create"),
        path("keys/<int:key_id>/revoke/", views.key_revoke, name="key_revoke"),
        path("redaction/", views.redaction_save, name="redaction_save"),
        path("retention/", views.retention_save, name="retention_save"),
    ],
    "settings",
)

# PostgreSQL unreachable: 503 with Retry-After, not a 500 (studio/outage.py).
handler500 = "studio.outage.server_error"
handler404 = "studio.not_found.not_found"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="runs:list", permanent=False)),
    path("login/", signin.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("switch/", views.switch, name="switch"),
    path("settings/", include(settings_patterns)),
    path("alerts/", include("alerts.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", include("shares.urls")),  # before runs: runs/<run_id>/share/ is its own
    path("", include("runs.urls")),
    path("", include("billing.urls")),
]
