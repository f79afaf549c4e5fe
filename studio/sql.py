"""Small SQL helpers shared by the pipeline's bulk writes."""

import json
from functools import cache

import psycopg
from django.contrib.postgres.fields import ArrayField
from django.db import connection
from django.db.models import JSONField
from django.db.models.fields import AutoFieldMixin


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


def insert_models(objs: list, *, ignore_conflicts: bool = False) -> None:
    """INSERT model instances in one statement from typed arrays, every concrete column
    but an automatic primary key; the columns come from the model. Django's bulk_create
    prepares every value of every row in Python first, which costs more than the insert.
    No primary keys are set on `objs`: read the rows back when their ids are needed."""
    if not objs:
        return
    model = type(objs[0])
    columns = _insert_columns(model)
    arrays: list[list] = [[] for _ in columns]
    for obj in objs:
        for values, (attname, _, _, is_json) in zip(arrays, columns, strict=True):
            value = getattr(obj, attname)
            if is_json and value is not None:
                value = json.dumps(value, separators=(",", ":"))
            values.append(value)
    names = ", ".join(column for _, column, _, _ in columns)
    casts = ", ".join(f"%b::{sql_type}[]" for _, _, sql_type, _ in columns)
    aliases = ", ".join(f"c{n}" for n in range(len(columns)))
    picks = ", ".join(
        f"u.c{n}::jsonb" if is_json else f"u.c{n}" for n, (*_, is_json) in enumerate(columns)
    )
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    with bulk_cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {model._meta.db_table} ({names}) SELECT {picks} "
            f"FROM unnest({casts}) AS u({aliases}){conflict}",
            arrays,
        )


@cache
def _insert_columns(model) -> list[tuple[str, str, str, bool]]:
    """(attribute, column, SQL type of its array, is JSON) of each column to insert."""
    columns = []
    for field in model._meta.concrete_fields:
        if field.generated or (field.primary_key and isinstance(field, AutoFieldMixin)):
            continue  # the database computes these
        if isinstance(field, ArrayField):
            raise TypeError(f"{model.__name__}.{field.name}: arrays are not supported here")
        is_json = isinstance(field, JSONField)
        sql_type = "text" if is_json else field.cast_db_type(connection)
        columns.append((field.attname, field.column, sql_type, is_json))
    return columns
