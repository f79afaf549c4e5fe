"""data-sync: its sources and field mappings, and the script of one run."""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timedelta
from typing import Any

from runs.demo.helpers import _count, _sentences
from runs.demo.steps import LLMCall, LogLine, Script, Step, ToolCall, _http

# ---------------------------------------------------------------------------
# data-sync
# ---------------------------------------------------------------------------

_SYNC_SOURCES = (
    # source, table, destination object
    ("postgres://crm-replica", "contacts", "contacts"),
    ("postgres://billing", "accounts", "companies"),
    ("mysql://shop", "orders", "deals"),
)
_SYNC_MAPPING = (
    (
        "The {table} table has {columns} columns and {rows} rows changed since the last sync.",
        "Since the last sync, {rows} rows of {table} have changed across {columns} columns.",
    ),
    (
        "Most columns map directly onto HubSpot {object} properties with the same name.",
        "Name, email, owner and lifecycle fields map one to one onto the {object} object.",
    ),
    (
        "The lifecycle column has no direct match, so it goes to the custom property "
        "crm_lifecycle.",
        "The phone column mixes formats, so I'll normalise it to E.164 before upserting.",
        "Two columns, owner_id and region, need the owners lookup table from the last run.",
    ),
    (
        "Rows without a valid key are skipped and listed in the audit file.",
        "Anything that fails validation is skipped and written to the audit log instead.",
    ),
)


def _sync_inputs(rng: random.Random, start: datetime) -> dict[str, Any]:
    source, table, _ = rng.choice(_SYNC_SOURCES)
    since = (start - timedelta(hours=rng.choice([1, 2, 6, 24]))).replace(
        minute=0, second=0, microsecond=0
    )
    return {
        "source": f"{source}/{table}",
        "destination": "hubspot",
        "since": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "batch_size": rng.choice([100, 250, 500]),
        "full_resync": False,
    }


def _sync_script(rng: random.Random, inputs: dict[str, Any]) -> Script:
    table = inputs["source"].rsplit("/", 1)[-1]
    hub_object = next(obj for _, name, obj in _SYNC_SOURCES if name == table)
    batch_size = inputs["batch_size"]
    rows = rng.randint(60_000, 90_000) if inputs["full_resync"] else rng.randint(40, 4_800)
    batches = math.ceil(rows / batch_size)
    ctx = {"table": table, "columns": rng.randint(9, 24), "rows": f"{rows:,}", "object": hub_object}
    sql = f"SELECT * FROM {table} WHERE updated_at > %(since)s ORDER BY id"
    steps: list[Step] = [
        ToolCall(
            "postgres.query",
            {"sql": sql, "params": {"since": inputs["since"]}},
            f"{rows} rows",
            (300, 2500),
        ),
        LLMCall(
            "map_fields",
            "gpt-4o-mini",
            _sentences(rng, _SYNC_MAPPING, ctx),
            rng.randint(1500, 3200),
            streamed=False,  # a batch job: the answer is only read once it is whole
        ),
    ]
    created = updated = skipped = 0
    url = f"https://api.hubapi.com/crm/v3/objects/{hub_object}/batch/upsert"
    for batch in range(1, batches + 1):
        size = min(batch_size, rows - (batch - 1) * batch_size)
        new = rng.randint(0, size // 8)
        bad = rng.choice([0, 0, 0, 1, 2])
        created, updated, skipped = created + new, updated + size - new - bad, skipped + bad
        result = {"created": new, "updated": size - new - bad, "errors": bad}
        logs: tuple[LogLine, ...] = (_http("POST", url),)
        if bad:
            logs += (
                LogLine(
                    "warning",
                    f"batch {batch}: skipped {_count(bad, 'row')} with an invalid email address",
                    "data_sync.validate",
                ),
            )
        steps.append(
            ToolCall(
                "hubspot.batch_upsert",
                {"object": hub_object, "batch": batch, "size": size},
                json.dumps(result),
                (900, 3500),
                logs,
            )
        )
        steps.append(LogLine("info", f"batch {batch}/{batches}: upserted {size} {hub_object}"))
    key = f"{table}/{inputs['since'][:10]}.jsonl"
    steps.append(
        ToolCall(
            "s3.put_object",
            {"bucket": "charm-sync-audit", "key": key},
            f"s3://charm-sync-audit/{key}",
            (150, 600),
        )
    )
    outputs = {
        "rows_read": rows,
        "created": created,
        "updated": updated,
        "skipped": skipped,
        "batches": batches,
    }
    return Script(steps, outputs)
