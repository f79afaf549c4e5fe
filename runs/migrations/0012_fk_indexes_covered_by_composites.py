"""Drop foreign-key indexes that a composite index already leads with.

Every run, span, LLM call and batch write maintained them for nothing. Only the indexes
go: Django's AlterField would also drop and re-add each foreign key, which on a large
table scans it all again under a lock.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0011_toolspan_seq"),
        ("studio", "0003_project_event_retention"),
    ]

    state_operations = [
        migrations.AlterField(
            model_name="ingestbatch",
            name="project",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="batches",
                to="studio.project",
            ),
        ),
        migrations.AlterField(
            model_name="llmcall",
            name="run",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="llm_calls_set",
                to="runs.run",
            ),
        ),
        migrations.AlterField(
            model_name="run",
            name="error_group",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="runs",
                to="runs.errorgroup",
            ),
        ),
        migrations.AlterField(
            model_name="run",
            name="project",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="runs",
                to="studio.project",
            ),
        ),
        migrations.AlterField(
            model_name="toolspan",
            name="run",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="spans",
                to="runs.run",
            ),
        ),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=state_operations,
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS runs_ingestbatch_project_id_98f7f93a;"
                    "DROP INDEX IF EXISTS runs_llmcall_run_id_68a82ea1;"
                    "DROP INDEX IF EXISTS runs_run_error_group_id_6ea79e86;"
                    "DROP INDEX IF EXISTS runs_run_project_id_f1a383ab;"
                    "DROP INDEX IF EXISTS runs_toolspan_run_id_c7d591fd;",
                    reverse_sql=(
                        "CREATE INDEX IF NOT EXISTS runs_ingestbatch_project_id_98f7f93a"
                        " ON runs_ingestbatch (project_id);"
                        "CREATE INDEX IF NOT EXISTS runs_llmcall_run_id_68a82ea1"
                        " ON runs_llmcall (run_id);"
                        "CREATE INDEX IF NOT EXISTS runs_run_error_group_id_6ea79e86"
                        " ON runs_run (error_group_id);"
                        "CREATE INDEX IF NOT EXISTS runs_run_project_id_f1a383ab"
                        " ON runs_run (project_id);"
                        "CREATE INDEX IF NOT EXISTS runs_toolspan_run_id_c7d591fd"
                        " ON runs_toolspan (run_id);"
                    ),
                )
            ],
        )
    ]
