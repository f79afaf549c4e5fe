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


def update_rows(model, rows: list, *, exclude: tuple[str, ...] = ()) -> None:
    """UPDATE rows of `model` in one statement from typed arrays, matched by primary key.

    Every column is written but the key, generated ones and `exclude` (attribute names),
    each taken from the row's attribute of that name: a model instance, or any object
    with those attributes. Django's bulk_update builds a CASE per column and row, which
    costs more than the work it does on a busy worker.
    """
    if not rows:
        return
    pk = model._meta.pk
    columns = [c for c in _insert_columns(model) if c[0] not in exclude]
    arrays = [[getattr(row, pk.attname) for row in rows]]
    for attname, _, sql_type, is_json, _ in columns:
        arrays.append(_array([getattr(row, attname) for row in rows], sql_type, is_json))
    casts = ", ".join(f"%b::{t}[]" for t in (pk.cast_db_type(connection), *(c[2] for c in columns)))
    aliases = ", ".join(f"c{n}" for n in range(len(arrays)))
    sets = ", ".join(
        f"{column} = v.c{n}::jsonb" if is_json else f"{column} = v.c{n}"
        for n, (_, column, _, is_json, _) in enumerate(columns, start=1)
    )
    with bulk_cursor() as cursor:
        cursor.execute(
            f"UPDATE {model._meta.db_table} AS t SET {sets} FROM unnest({casts}) AS v({aliases}) "
            f"WHERE t.{pk.column} = v.c0",
            arrays,
        )


def insert_models(objs: list, *, ignore_conflicts: bool = False, returning: str = "") -> list:
    """INSERT model instances that carry their own primary keys, in one statement:
    `insert_rows` of their values."""
    if not objs:
        return []
    model = type(objs[0])
    names = [attname for attname, *_ in _insert_columns(model, True)]
    rows = [{name: getattr(obj, name) for name in names} for obj in objs]
    return insert_rows(
        model, rows, ignore_conflicts=ignore_conflicts, returning=returning, with_pk=True
    )


def insert_rows(
    model,
    rows: list[dict],
    *,
    ignore_conflicts: bool = False,
    on_conflict: str = "",
    returning: str = "",
    with_pk: bool = False,
) -> list[tuple]:
    """INSERT rows of `model` in one statement from typed arrays: every concrete column
    but an automatic primary key (unless `with_pk`: the rows bring their own), the
    columns taken from the model. Each row is a dict by attribute name (`run_id` for a
    foreign key); a column it leaves out gets the field's default. Django's bulk_create
    prepares every value of every row in Python first, and building model instances to
    feed it costs more than the insert. `on_conflict` is a whole ON CONFLICT clause, for
    an upsert; `returning` names columns to give back for each row inserted."""
    if not rows:
        return []
    columns = _insert_columns(model, with_pk)
    arrays: list[list] = []
    for attname, _, sql_type, is_json, default in columns:
        arrays.append(_array([row.get(attname, default) for row in rows], sql_type, is_json))
    names = ", ".join(column for _, column, *_ in columns)
    casts = ", ".join(f"%b::{sql_type}[]" for _, _, sql_type, *_ in columns)
    aliases = ", ".join(f"c{n}" for n in range(len(columns)))
    picks = ", ".join(
        f"u.c{n}::jsonb" if is_json else f"u.c{n}" for n, (*_, is_json, _) in enumerate(columns)
    )
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    if on_conflict:
        conflict = f" {on_conflict}"
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


def _array(values: list, sql_type: str, is_json: bool) -> list:
    """A column's values as one typed array takes them."""
    if is_json:
        return [None if v is None else _JSON.encode(v).decode() for v in values]
    if sql_type.startswith("numeric"):  # a default 0 beside Decimals: one array type
        return [Decimal(v) if isinstance(v, int) else v for v in values]
    return values


def model_defaults(model) -> dict:
    """Each insertable column's default by attribute name, as a new dict whose list and
    dict values are new too: the start of a row to fill in and give `insert_rows`."""
    return {
        attname: type(default)(default) if isinstance(default, list | dict) else default
        for attname, _, _, _, default in _insert_columns(model)
    }


@cache
def _insert_columns(model, with_pk: bool = False) -> list[tuple[str, str, str, bool, object]]:
    """(attribute, column, SQL type of its array, is JSON, default) of each column to
    insert."""
    columns = []
    for field in model._meta.concrete_fields:
        automatic_pk = field.primary_key and isinstance(field, AutoFieldMixin)
        if field.generated or (automatic_pk and not with_pk):
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
