"""Error groups: each new error event joins the group of its fingerprint.

A batch's errors are written set-wise, in five statements whatever the number of runs:
groups upserted (sorted by fingerprint, one order for every worker), which (group, run)
pairs were already known, occurrences inserted, run counts raised, daily counts added.
"""

import json
from collections import defaultdict
from dataclasses import dataclass, field

from runs.fingerprint import FINGERPRINT_VERSION, error_fingerprint, error_title
from runs.models import Run
from runs.protocol import Event
from studio.sql import bulk_cursor

ERROR_TYPES = {"error": "run", "tool_error": "tool"}
MAX_AGENTS = 50  # agent names kept on a group


@dataclass
class _Group:
    """What a batch adds to one error group."""

    events: list[tuple[Run, Event]] = field(default_factory=list)

    @property
    def sample(self) -> Event:
        return max((event for _, event in self.events), key=lambda e: e.ts)

    @property
    def agents(self) -> list[str]:
        return list(dict.fromkeys(run.agent_name or "unknown" for run, _ in self.events))


def errors_apply(*, runs: list[tuple[Run, list[Event]]]) -> None:
    """Group the new `error` and `tool_error` events of a batch's runs, and point each
    run at the group of the error that ended it."""
    groups: dict[str, _Group] = defaultdict(_Group)
    for run, events in runs:
        for event in events:
            if event.type in ERROR_TYPES:
                error = event.data["error"]
                fingerprint = error_fingerprint(
                    error["type"], error["message"], error.get("traceback")
                )
                groups[fingerprint].events.append((run, event))
    if not groups:
        return
    ids = _upsert_groups(runs[0][0].project_id, groups)
    _record_occurrences(runs[0][0].project_id, groups, ids)
    for fingerprint in sorted(groups):
        for run, event in groups[fingerprint].events:
            if event.type == "error" and (
                run.error_group_id is None or run.status_event_id == event.event_id
            ):
                run.error_group_id = ids[fingerprint]


def _upsert_groups(project_id: int, groups: dict[str, _Group]) -> dict[str, int]:
    """Each group inserted or updated: its first and last time, its latest message and
    traceback, its event count and the agents it was seen in. Their ids by fingerprint."""
    rows = []
    for fingerprint in sorted(groups):
        group = groups[fingerprint]
        sample = group.sample
        error = sample.data["error"]
        rows.append(
            (
                fingerprint,
                ERROR_TYPES[sample.type],
                error["type"][:200],
                error_title(error["type"], error["message"])[:300],
                error["message"][:10000],
                (error.get("traceback") or "")[:50000],
                min(event.ts for _, event in group.events),
                sample.ts,
                len(group.events),
                json.dumps(group.agents[:MAX_AGENTS]),
            )
        )
    with bulk_cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO runs_errorgroup (project_id, fingerprint, fingerprint_version, kind,
                error_type, title, message, traceback, first_seen, last_seen, event_count,
                run_count, agents)
            SELECT %s, g.fingerprint, %s, g.kind, g.error_type, g.title, g.message,
                g.traceback, g.first_seen, g.last_seen, g.event_count, 0,
                ARRAY(SELECT jsonb_array_elements_text(g.agents::jsonb))
            FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[],
                        %b::text[], %b::timestamptz[], %b::timestamptz[], %b::bigint[],
                        %b::text[])
              AS g(fingerprint, kind, error_type, title, message, traceback, first_seen,
                   last_seen, event_count, agents)
            ORDER BY g.fingerprint
            ON CONFLICT (project_id, fingerprint) DO UPDATE SET
                first_seen = LEAST(runs_errorgroup.first_seen, EXCLUDED.first_seen),
                last_seen = GREATEST(runs_errorgroup.last_seen, EXCLUDED.last_seen),
                message = CASE WHEN EXCLUDED.last_seen > runs_errorgroup.last_seen
                    THEN EXCLUDED.message ELSE runs_errorgroup.message END,
                traceback = CASE WHEN EXCLUDED.last_seen > runs_errorgroup.last_seen
                    THEN EXCLUDED.traceback ELSE runs_errorgroup.traceback END,
                event_count = runs_errorgroup.event_count + EXCLUDED.event_count,
                agents = CASE WHEN cardinality(runs_errorgroup.agents) >= %s
                    THEN runs_errorgroup.agents
                    ELSE (runs_errorgroup.agents || ARRAY(
                        SELECT a FROM unnest(EXCLUDED.agents) AS a
                        WHERE a <> ALL(runs_errorgroup.agents)))[1:%s] END
            RETURNING fingerprint, id
            """,
            [
                project_id,
                FINGERPRINT_VERSION,
                *([row[n] for row in rows] for n in range(10)),
                MAX_AGENTS,
                MAX_AGENTS,
            ],
        )
        return dict(cursor.fetchall())


def _record_occurrences(project_id: int, groups: dict[str, _Group], ids: dict[str, int]):
    """Occurrences stored, each group's run count raised by the runs it is new in, and
    its daily counts added to."""
    pairs = sorted({(ids[f], run.pk) for f, group in groups.items() for run, _ in group.events})
    occurrences = [
        (ids[fingerprint], run.pk, event.event_id, event.ts)
        for fingerprint in sorted(groups)
        for run, event in groups[fingerprint].events
    ]
    daily: dict[tuple[int, object], int] = defaultdict(int)
    for group_id, _, _, ts in occurrences:
        daily[(group_id, ts.date())] += 1
    with bulk_cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT o.group_id, o.run_id FROM runs_erroroccurrence o "
            "JOIN unnest(%b::bigint[], %b::bigint[]) AS p(group_id, run_id) "
            "ON o.group_id = p.group_id AND o.run_id = p.run_id",
            [[g for g, _ in pairs], [r for _, r in pairs]],
        )
        known = set(cursor.fetchall())
        cursor.execute(
            "INSERT INTO runs_erroroccurrence (project_id, group_id, run_id, event_id, ts) "
            "SELECT %s, o.* FROM unnest(%b::bigint[], %b::bigint[], %b::text[], "
            "%b::timestamptz[]) AS o ON CONFLICT DO NOTHING",
            [project_id, *([row[n] for row in occurrences] for n in range(4))],
        )
        new_runs: dict[int, int] = defaultdict(int)
        for pair in pairs:
            if pair not in known:
                new_runs[pair[0]] += 1
        if new_runs:
            cursor.execute(
                "UPDATE runs_errorgroup g SET run_count = g.run_count + n.added "
                "FROM unnest(%b::bigint[], %b::bigint[]) AS n(id, added) WHERE g.id = n.id",
                [sorted(new_runs), [new_runs[g] for g in sorted(new_runs)]],
            )
        keys = sorted(daily)
        cursor.execute(
            "INSERT INTO runs_errorgroupdaily (group_id, day, count) "
            "SELECT * FROM unnest(%b::bigint[], %b::date[], %b::bigint[]) "
            "ON CONFLICT (group_id, day) DO UPDATE "
            "SET count = runs_errorgroupdaily.count + EXCLUDED.count",
            [[g for g, _ in keys], [d for _, d in keys], [daily[k] for k in keys]],
        )
