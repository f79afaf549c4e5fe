"""Reads for share links: the shared run, redacted, and the links listed in Settings."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from functools import partial

from django.db import connection

from runs.checklist import Checklist, run_checklist
from runs.models import LlmCall, Run, ToolSpan
from runs.selectors.detail import run_for_detail
from runs.selectors.events import RUN_EVENTS, run_bounds
from runs.views.debug import checklist_context, detail_url
from shares.models import ShareLink
from shares.redaction import Redactor, compile_project_patterns, declared_secret_names
from studio.models import Organization, Project

LEARN_EVENTS = 2000  # events scanned for the values of declared names, at most
LEARN_SPANS = 2000
LEARN_CALLS = 200
# Words that, next to `=` or `:`, mark a value to learn (the redactor knows them too).
_LEARN_WORDS = ("password", "passwd", "secret", "token", "api_key", "apikey", "api-key")


def shared_run(*, link: ShareLink) -> tuple[Run, Redactor] | None:
    """The link's run as the shared page shows it: a redacted copy (never saved),
    and the redactor for what the page reads next."""
    run = run_for_detail(project=link.project, run_id=link.run.run_id)
    if run is None:
        return None
    redactor = run_redactor(run=run, project=link.project)
    return redacted_run(run, redactor), redactor


def run_redactor(*, run: Run, project: Project) -> Redactor:
    """A redactor for `run` that already knows the values its declared names were
    given anywhere in the run, so they go wherever else they appear. Three queries."""
    try:
        patterns = compile_project_patterns(project.redaction_patterns)
    except ValueError:
        patterns = []  # saved before a check tightened: the built-in rules still apply
    redactor = Redactor(names=declared_secret_names(run.config), patterns=patterns)
    redactor.learn(_learnable_texts(run, redactor.names))
    return redactor


def _learnable_texts(run: Run, names: list[str]):
    fields = (run.inputs, run.outputs, run.state, run.error_message, run.status_message)
    yield from (json.dumps(value, default=str) for value in fields if value)
    words = [*names, *_LEARN_WORDS]
    pattern = "|".join(re.escape(word) for word in words)
    sql = f"""
        SELECT data::text FROM runs_event
        WHERE {RUN_EVENTS} AND data::text ~* %(pattern)s
        LIMIT %(limit)s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {**run_bounds(run), "pattern": pattern, "limit": LEARN_EVENTS})
        yield from (row[0] for row in cursor.fetchall())
    spans = ToolSpan.objects.filter(project_id=run.project_id, run=run).values_list(
        "input_str", "output", "error", "attributes"
    )[:LEARN_SPANS]
    for span in spans:
        yield json.dumps(span, default=str)
    calls = LlmCall.objects.filter(project_id=run.project_id, run=run).values_list(
        "text", "prompt", "details"
    )[:LEARN_CALLS]
    for call in calls:
        yield json.dumps(call, default=str)


def redacted_run(run: Run, redactor: Redactor) -> Run:
    """A copy of `run` with the fields the page shows as text or JSON redacted."""
    shown = copy.copy(run)
    shown._state = copy.copy(run._state)  # its own cache of related rows, not the original's
    shown._state.fields_cache = {}
    shown.inputs = redactor.value(run.inputs)
    shown.outputs = redactor.value(run.outputs)
    shown.state = redactor.value(run.state)
    shown.runtime = redactor.value(run.runtime)
    shown.artifacts = redactor.value(run.artifacts)
    shown.error_message = redactor.text(run.error_message)
    shown.status_message = redactor.text(run.status_message)
    shown.next_step = redactor.text(run.next_step)
    shown.error_group = None  # the organization's error groups are not part of the share
    shown.error_group_id = None
    shown.save = _never_saved
    return shown


def _never_saved(*args, **kwargs) -> None:
    raise RuntimeError("a redacted copy of a run is for showing, never for saving")


def shared_checklist(*, link: ShareLink, run: Run, redactor: Redactor) -> dict | None:
    """The debug checklist of a failed shared run (`run`, already redacted), redacted,
    its links kept to the shared page itself."""
    found = run_checklist(project=link.project, run_id=link.run.run_id)
    if found is None or not found.applies:
        return None
    found = replace(redacted_checklist(found, redactor), run=run)
    return checklist_context(found, to_run=partial(detail_url, base=""), shared=True)


def redacted_checklist(found: Checklist, redactor: Redactor) -> Checklist:
    checks = [
        replace(
            check,
            evidence=redactor.text(check.evidence),
            hint=redactor.text(check.hint),
            notes=tuple(redactor.text(note) for note in check.notes),
        )
        for check in found.checks
    ]
    window = found.window
    if window is not None:
        window = replace(
            window,
            lines=tuple(_redacted_line(line, redactor) for line in window.lines),
            first_error=_redacted_line(window.first_error, redactor),
        )
    reference = found.reference
    if reference is not None:
        reference = replace(reference, runtime=redactor.value(reference.runtime))
    return replace(found, checks=checks, window=window, local_runs=[], reference=reference)


def _redacted_line(line, redactor: Redactor):
    return replace(line, message=redactor.text(line.message)) if line else None


def links_for_settings(*, organization: Organization, project: Project | None) -> list[ShareLink]:
    """The project's share links, newest first, with who made and ended them."""
    if project is None:
        return []
    return list(
        ShareLink.objects.filter(project=project, project__organization=organization)
        .select_related("run", "created_by", "revoked_by")
        .order_by("-created_at")[:100]
    )
