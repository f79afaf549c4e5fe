"""Small SQL helpers shared by the pipeline's bulk writes."""

import psycopg
from django.db import connection


def bulk_cursor() -> psycopg.Cursor:
    """A psycopg cursor with server-side parameter binding, on Django's connection and
    so inside its transaction. Django's own cursors quote every parameter into the SQL
    text on the client, which costs more than the database work for large arrays."""
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def upsert_add(table: str, keys: tuple[str, ...], sums: tuple[str, ...], rows: list[tuple]) -> None:
    """Add `rows` into a rollup table: insert new keys, add the sums into existing ones.

    Each row is the key values then the sum values. Pass rows sorted by key, so that
    every worker locks rollup rows in the same order.
    """
    if not rows:
        return
    columns = ", ".join((*keys, *sums))
    updates = ", ".join(f"{name} = {table}.{name} + EXCLUDED.{name}" for name in sums)
    placeholders = "(" + ", ".join(["%s"] * (len(keys) + len(sums))) + ")"
    with bulk_cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES {', '.join([placeholders] * len(rows))} "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}",
            [value for row in rows for value in row],
        )


def update_rows(table: str, columns: dict[str, str], rows: list[tuple]) -> None:
    """Update many rows of `table` in one statement, from typed arrays.

    `columns` maps column name to its SQL type, the first being the key (e.g.
    {"id": "bigint", "status": "text", "inputs": "jsonb"}); each row gives values in
    that order, jsonb ones as JSON text or None. Django's bulk_update builds a CASE
    per column and row, which costs more than the work it does on a busy worker.
    """
    if not rows:
        return
    names = list(columns)
    key = names[0]
    arrays = ", ".join(f"%b::{'text' if t == 'jsonb' else t}[]" for t in columns.values())
    sets = ", ".join(
        f"{name} = v.{name}::jsonb" if columns[name] == "jsonb" else f"{name} = v.{name}"
        for name in names[1:]
    )
    with bulk_cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS t SET {sets} FROM unnest({arrays}) AS v({', '.join(names)}) "
            f"WHERE t.{key} = v.{key}",
            [[row[i] for row in rows] for i in range(len(names))],
        )
