"""`manage.py ingest`: the same pipeline from a file or a pipe, with a summary."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from runs.models import IngestBatch
from tests.conftest import ev


def write_ndjson(path, lines: list[str]) -> str:
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


def test_ingest_command_stores_valid_lines_and_names_the_bad_ones(project, tmp_path):
    file = write_ndjson(
        tmp_path / "events.ndjson",
        [json.dumps(ev("run_start", event_id="a")), "{oops", json.dumps(ev("log", message="hi"))],
    )
    out, err = io.StringIO(), io.StringIO()

    call_command("ingest", file, "--project", project.slug, stdout=out, stderr=err)

    assert "3 lines: 2 events accepted, 1 rejected" in out.getvalue()
    assert "line 2: invalid JSON" in err.getvalue()
    batch = IngestBatch.objects.get(project=project)
    assert batch.event_count == 2 and batch.source == "cli"


def test_ingest_command_reads_raw_stdout_for_a_run_and_ends_its_stream(
    project, tmp_path, monkeypatch
):
    monkeypatch.setattr("sys.stdin", io.StringIO("starting\nworking\n"))
    out = io.StringIO()

    call_command("ingest", "-", "--project", project.slug, "--run-id", "run_7", stdout=out)

    batches = IngestBatch.objects.filter(project=project).order_by("id")
    events = [e for batch in batches for e in json.loads(batch.payload)]
    assert [(e["type"], e["run_id"], e["seq"]) for e in events] == [
        ("log", "run_7", 0),
        ("log", "run_7", 1),
        ("stream_end", "run_7", 2),
    ]
    assert [e["data"]["message"] for e in events[:2]] == ["starting", "working"]


def test_ingest_command_names_an_unknown_project(db, tmp_path):
    file = write_ndjson(tmp_path / "e.ndjson", [json.dumps(ev("run_start"))])

    with pytest.raises(CommandError, match="no project 'nope'"):
        call_command("ingest", file, "--project", "nope")


def test_ingest_command_says_so_when_the_file_is_missing(project):
    with pytest.raises(CommandError, match="No such file"):
        call_command("ingest", "/nonexistent/events.ndjson", "--project", project.slug)
