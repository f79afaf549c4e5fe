"""Two workers applying events of one new run at the same moment.

A run not stored yet is written whole at the end of its apply. When another worker
stores it first, this apply's insert waits for that commit, conflicts, and the apply
starts again with the run locked: nothing either worker applied is lost or counted
twice. Real transactions on two database connections, one per thread.
"""

import threading

import pytest
from django.db import connection, connections, transaction

from runs.ingest.apply import events_apply
from runs.models import Run
from runs.partitions import ensure_partitions
from runs.protocol import validate_event
from tests.conftest import apply_now, wait_for
from tests.runs.test_apply import a_failed_run, snapshot

pytestmark = pytest.mark.django_db(transaction=True)


def waiting_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


def test_a_new_run_stored_by_another_worker_meanwhile_is_applied_again_not_lost(
    project, other_project
):
    events = a_failed_run("raced")
    ensure_partitions({validate_event(e).ts.date() for e in events})
    first, second = events[: len(events) // 2], events[len(events) // 2 :]
    organization_id = project.organization_id
    first_applied, may_commit, second_pid = threading.Event(), threading.Event(), []
    failures = []

    def first_worker():
        try:
            with transaction.atomic():
                events_apply(
                    project_id=project.id,
                    organization_id=organization_id,
                    events=[validate_event(e) for e in first],
                )
                first_applied.set()
                may_commit.wait(30)
        except Exception as error:
            failures.append(error)
            first_applied.set()
        finally:
            connections.close_all()

    def second_worker():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                second_pid.append(cursor.fetchone()[0])
            with transaction.atomic():
                events_apply(
                    project_id=project.id,
                    organization_id=organization_id,
                    events=[validate_event(e) for e in second],
                )
        except Exception as error:
            failures.append(error)
        finally:
            connections.close_all()

    one = threading.Thread(target=first_worker)
    one.start()
    assert first_applied.wait(30) and not failures  # the run is in its open transaction
    two = threading.Thread(target=second_worker)
    two.start()
    # The second worker did its work and now waits at its insert of the run.
    wait_for(lambda: failures or (second_pid and waiting_on_a_lock(second_pid[0])))
    may_commit.set()
    one.join(30)
    two.join(30)
    assert not failures

    apply_now(other_project, events)  # one worker, all at once
    assert snapshot(project) == snapshot(other_project)
    run = Run.objects.get(project=project, run_id="raced")
    assert (run.status, run.event_count) == ("failed", len(events))
