from django.urls import path

from runs import (
    api,
    converters,  # noqa: F401 - registers the run_id converter
    otlp_api,
)
from runs.views import debug, detail, errors, openapi, runs
from runs.views import live as live_views

# Page URLs carry any run id, `/` included (runs/converters.py).

app_name = "runs"

urlpatterns = [
    # API v1
    path("api/v1/ingest", api.ingest, name="api_ingest"),
    path("api/v1/validations", api.validations, name="api_validations"),
    path("api/v1/otlp/v1/traces", otlp_api.traces, name="api_otlp_traces"),
    path("v1/traces", otlp_api.traces, name="otlp_traces"),  # a collector's default path
    path("api/v1/runs", api.runs_list, name="api_runs"),
    path("api/v1/runs/<api_run_id:run_id>/events", api.run_events, name="api_run_events"),
    path("api/v1/runs/<api_run_id:run_id>", api.run_detail, name="api_run"),
    path("api/v1/openapi.json", openapi.openapi_document, name="api_openapi"),
    # Runs list (runs/views/runs.py)
    path("runs/", runs.run_list, name="list"),
    # Debug checklist, compare, ingest health (runs/views/debug.py): before runs/<run_id>/
    path("runs/compare/", debug.compare, name="compare"),
    path("runs/health/", debug.health, name="health"),
    path("runs/health/batches/<int:batch_id>/retry/", debug.batch_retry_view, name="batch_retry"),
    path("runs/<run_id:run_id>/checklist/", debug.checklist, name="checklist"),
    # Run detail (runs/views/detail.py, runs/views/live.py)
    path("runs/<run_id:run_id>/", detail.run_detail, name="detail"),
    path("runs/<run_id:run_id>/live", live_views.run_live, name="live"),
    # Errors (runs/views/errors.py)
    path("errors/", errors.error_list, name="errors"),
    path("errors/<int:group_id>/", errors.error_detail, name="error_detail"),
]
