"""An index that answers the runs list's status counts for an agent without the table.

With an agent filter, `runs.selectors.run_status_counts` groups the agent's runs of the
time window by status and counts the stalled ones. Through run_agent_idx that reads
every one of those rows from the table: with 1,000,000 runs, 77,000 rows of one agent
in 30 days are 40,000 pages (320 MB) and 260-360 ms. With `status` and `stalled` in
the index (and `id`, which the query counts), PostgreSQL counts them with an
index-only scan in 15-35 ms (bench/run_pages.py).

Its key is run_agent_idx's, so it can replace it: declaring it on the model as
`run_agent_idx` with `include=["status", "stalled"]` and dropping the old one is a
later change to runs/models.py. Until then the index lives in the database only (no
model state), built CONCURRENTLY so that ingest keeps writing runs while it builds.
"""

from django.db import migrations

CREATE = """
CREATE INDEX CONCURRENTLY IF NOT EXISTS run_agent_counts_idx
ON runs_run (project_id, agent_name, started_at DESC, id DESC) INCLUDE (status, stalled)
"""

DROP = "DROP INDEX CONCURRENTLY IF EXISTS run_agent_counts_idx"


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("runs", "0004_run_agent_status_index")]

    operations = [migrations.RunSQL(CREATE, DROP)]
