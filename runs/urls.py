from django.urls import path

from runs import api, views

app_name = "runs"

urlpatterns = [
    path("runs/", views.run_list, name="list"),
    path("errors/", views.error_list, name="errors"),
    path("api/v1/ingest", api.ingest, name="api_ingest"),
    path("api/v1/runs", api.runs_list, name="api_runs"),
    path("api/v1/runs/<path:run_id>/events", api.run_events, name="api_run_events"),
    path("api/v1/runs/<path:run_id>", api.run_detail, name="api_run"),
]
