"""What /healthz reports: can Studio reach its database and broker."""

import time

import redis
from django.conf import settings
from django.db import connection

from studio.redis import redis_client


def check() -> dict:
    checks = {"database": _check_database(), "broker": _check_broker()}
    checks.update(_pipeline_state())
    ok = checks["database"]["ok"] and checks["broker"]["ok"]
    return {"ok": ok, **checks}


def _check_database() -> dict:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:  # any failure means "down"; the message says which
        return {"ok": False, "error": str(error).strip()}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _check_broker() -> dict:
    started = time.perf_counter()
    try:
        client = redis_client()
        client.ping()
        depth = client.llen(settings.CELERY_TASK_DEFAULT_QUEUE)
    except redis.RedisError as error:
        return {"ok": False, "error": str(error)}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1), "queue": depth}


def _pipeline_state() -> dict:
    """Pending ingest batches; filled in by the pipeline once it exists."""
    try:
        from runs.selectors.runs import pipeline_backlog
    except ImportError:
        return {}
    try:
        return {"pipeline": pipeline_backlog()}
    except Exception as error:  # the database check already reports the cause
        return {"pipeline": {"error": str(error).strip()}}
