"""Small SQL helpers shared by the pipeline's bulk writes."""

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from functools import cache

import msgspec
import psycopg
from django.contrib.postgres.fields import ArrayField
from django.db import connection
from django.db.models import JSONField
from django.db.models.fields import AutoFieldMixin


@contextmanager
def bulk_cursor() -> Iterator[psycopg.Cursor]:
    """A psycopg cursor with server-side parameter binding, on Django's connection and
    so inside its transaction. Django's own cursors quote every parameter into the SQL
    text on the client, which costs more than the database work for large arrays.

    Its errors are Django's (a lost server is django.db.OperationalError, which the
    ingest view answers with 503, not 500), and a connection broken under it is
    dropped at the end of the request, as with Django's cursors."""
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor


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
            [_column(rows, i, kind) for i, kind in enumerate(columns.values())],
        )


def _column(rows: list[tuple], i: int, kind: str) -> list:
    values = [row[i] for row in rows]
    if kind == "numeric":  # a model's default 0 beside Decimals: one type per array
        values = [Decimal(v) if isinstance(v, int) else v for v in values]
    return values


def insert_models(objs: list, *, ignore_conflicts: bool = False) -> None:
    """INSERT model instances in one statement: `insert_rows` of their values. No
    primary keys are set on `objs`: read the rows back when their ids are needed."""
    if objs:
        columns = _insert_columns(type(objs[0]))
        rows = [{attname: getattr(obj, attname) for attname, *_ in columns} for obj in objs]
        insert_rows(type(objs[0]), rows, ignore_conflicts=ignore_conflicts)


def insert_rows(
    model, rows: list[dict], *, ignore_conflicts: bool = False, returning: str = ""
) -> list[tuple]:
    """INSERT rows of `model` in one statement from typed arrays: every concrete column
    but an automatic primary key, the columns taken from the model. Each row is a dict
    by attribute name (`run_id` for a foreign key); a column it leaves out gets the
    field's default. Django's bulk_create prepares every value of every row in Python
    first, and building model instances to feed it costs more than the insert.
    `returning` names columns to give back for each row inserted."""
    if not rows:
        return []
    columns = _insert_columns(model)
    arrays: list[list] = []
    for attname, _, _, is_json, default in columns:
        values = [row.get(attname, default) for row in rows]
        if is_json:
            values = [None if v is None else _JSON.encode(v).decode() for v in values]
        arrays.append(values)
    names = ", ".join(column for _, column, *_ in columns)
    casts = ", ".join(f"%b::{sql_type}[]" for _, _, sql_type, *_ in columns)
    aliases = ", ".join(f"c{n}" for n in range(len(columns)))
    picks = ", ".join(
        f"u.c{n}::jsonb" if is_json else f"u.c{n}" for n, (*_, is_json, _) in enumerate(columns)
    )
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    if returning:
        conflict += f" RETURNING {returning}"
    with bulk_cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {model._meta.db_table} ({names}) SELECT {picks} "
            f"FROM unnest({casts}) AS u({aliases}){conflict}",
            arrays,
        )
        return cursor.fetchall() if returning else []


_JSON = msgspec.json.Encoder()


def model_defaults(model) -> dict:
    """Each insertable column's default by attribute name, as a new dict whose list and
    dict values are new too: the start of a row to fill in and give `insert_rows`."""
    return {
        attname: type(default)(default) if isinstance(default, list | dict) else default
        for attname, _, _, _, default in _insert_columns(model)
    }


@cache
def _insert_columns(model) -> list[tuple[str, str, str, bool, object]]:
    """(attribute, column, SQL type of its array, is JSON, default) of each column to
    insert."""
    columns = []
    for field in model._meta.concrete_fields:
        if field.generated or (field.primary_key and isinstance(field, AutoFieldMixin)):
            continue  # the database computes these
        if isinstance(field, ArrayField):
            raise TypeError(f"{model.__name__}.{field.name}: arrays are not supported here")
        is_json = isinstance(field, JSONField)
        sql_type = "text" if is_json else field.cast_db_type(connection)
        default = field.get_default()
        if default is not None and not is_json:
            default = field.to_python(default)  # 0 as Decimal('0'): one type per array
        columns.append((field.attname, field.column, sql_type, is_json, default))
    return columns
