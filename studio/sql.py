"""Small SQL helpers shared by the pipeline's bulk writes."""

from django.db import connection


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
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES {', '.join([placeholders] * len(rows))} "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}",
            [value for row in rows for value in row],
        )
