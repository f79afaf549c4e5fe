"""Compress the large values the pipeline writes with lz4 rather than pglz.

A batch's payload (hundreds of kB) and an LLM call's tokens are TOASTed, and pglz made
storing a 400 kB payload take 4.9 ms against lz4's 1.2 ms; lz4 also reads back faster
and was smaller here. A server built without lz4 (some bundled builds) keeps pglz: the
statement is skipped there, not failed. Only values written from now on change.
"""

from django.db import migrations

COLUMNS = [
    ("runs_ingestbatch", "payload"),
    ("runs_event", "data"),  # the partitioned parent, which new partitions follow
    ("runs_llmcall", "tokens"),
    ("runs_llmcall", "text"),
    ("runs_toolspan", "input_str"),
    ("runs_toolspan", "output"),
]


def _set(method: str) -> str:
    statements = "".join(
        f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method};"
        for table, column in COLUMNS
    )
    # A partitioned table's setting does not reach the partitions it already has.
    partitions = (
        "FOR part IN SELECT inhrelid::regclass FROM pg_inherits "
        "WHERE inhparent = 'runs_event'::regclass LOOP "
        f"EXECUTE format('ALTER TABLE %s ALTER COLUMN data SET COMPRESSION {method}', part); "
        "END LOOP;"
    )
    return (
        f"DO $$ DECLARE part regclass; BEGIN {statements} {partitions} "
        "EXCEPTION WHEN feature_not_supported THEN NULL; END $$;"  # built without lz4
    )


class Migration(migrations.Migration):
    dependencies = [("runs", "0012_fk_indexes_covered_by_composites")]

    operations = [migrations.RunSQL(_set("lz4"), reverse_sql=_set("pglz"))]
