"""The event table, partitioned by day on `ts` (Django cannot create partitioned tables).

Partitions are made ahead of time by `runs.partitions` and on demand by the apply
step; retention detaches and drops whole days, which needs no vacuum.
"""

from django.db import migrations

CREATE = """
CREATE TABLE runs_event (
    project_id integer NOT NULL,
    event_id varchar(64) NOT NULL,
    ts timestamptz NOT NULL,
    run_pk bigint NOT NULL,
    type varchar(16) NOT NULL,
    seq bigint,
    data jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, event_id, ts)
) PARTITION BY RANGE (ts);
CREATE INDEX runs_event_run_idx ON runs_event (project_id, run_pk, ts);
"""

DROP = "DROP TABLE IF EXISTS runs_event CASCADE;"


class Migration(migrations.Migration):
    dependencies = [("runs", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, DROP)]
