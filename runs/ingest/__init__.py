"""The ingest pipeline: from a committed inbox batch to runs, calls, spans, errors,
revenue and rollups.

`inbox` stores what the API accepted and hands batches to the workers; `apply` folds a
batch into every table in a fixed number of statements, through `runstate` (a run's
summary), `calls`, `spans`, `errors`, `revenue`, `tool_usage` and `rollups`. `loader`
feeds a piped stream through the same inbox.
"""
