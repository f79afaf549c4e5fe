"""The Celery app: `celery -A studio worker` and `celery -A studio beat`."""

import os

from celery import Celery
from celery.signals import task_prerun
from django.db import close_old_connections

from studio.env import env_int

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")

app = Celery("studio")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fixup closes the database connection before and after every task
# unless this is set, and opening it again costs PostgreSQL about 4 ms of CPU: a tenth
# of a batch's apply. The connection is kept instead, and checked as Django checks it at
# the start of a request (`_connection_check`).
app.conf.CELERY_DB_REUSE_MAX = 1_000_000
app.autodiscover_tasks()


@task_prerun.connect
def _connection_check(**_) -> None:
    """Drop the connection if it broke or is older than CONN_MAX_AGE; the next query
    opens a new one (and checks it first, with CONN_HEALTH_CHECKS)."""
    close_old_connections()


# How often beat looks for pending batches the broker lost (a sweep is one cheap query).
SWEEP_SECONDS = env_int("PENDING_BATCH_SWEEP_SECONDS", 30, minimum=1)

# Every periodic task in one place, each expiring before its next run.
app.conf.beat_schedule = {
    "sweep-pending-batches": {
        "task": "runs.tasks.sweep_pending_batches",
        "schedule": float(SWEEP_SECONDS),
        "options": {"expires": SWEEP_SECONDS * 0.8},
    },
    "flag-stalled-runs": {
        "task": "runs.tasks.flag_stalled_runs",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "evaluate-alerts": {
        "task": "alerts.tasks.evaluate_alerts",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "maintain-partitions": {
        "task": "runs.tasks.maintain_partitions",
        "schedule": 3600.0,
        "options": {"expires": 3000},
    },
}
