from django.urls import path

from runs import api
from runs.views import errors, runs

app_name = "runs"

urlpatterns = [
    # API v1
    path("api/v1/ingest", api.ingest, name="api_ingest"),
    path("api/v1/runs", api.runs_list, name="api_runs"),
    path("api/v1/runs/<path:run_id>/events", api.run_events, name="api_run_events"),
    path("api/v1/runs/<path:run_id>", api.run_detail, name="api_run"),
    # Runs list (runs/views/runs.py)
    path("runs/", runs.run_list, name="list"),
    # Run detail (runs/views/detail.py)
    # Debug checklist, compare, ingest health (runs/views/debug.py)
    # Errors (runs/views/errors.py)
    path("errors/", errors.error_list, name="errors"),
]
