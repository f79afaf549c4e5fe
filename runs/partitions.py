"""Daily partitions of the event table: made ahead, made on demand, dropped for retention."""

from datetime import date, datetime, timedelta

from django.db import DatabaseError, connection, transaction

TABLE = "runs_event"
_known: set[date] = set()  # partitions this process has already made or seen


def partition_name(day: date) -> str:
    return f"{TABLE}_{day:%Y%m%d}"


def ensure_partitions(days: set[date]) -> None:
    """Create the partitions for `days` if missing; safe under concurrent workers.

    Call it outside the apply transaction: creating a partition locks the parent
    table, and holding that lock while a batch applies would stall every reader.
    """
    missing = sorted(days - _known)
    for day in missing:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF {TABLE} "
                    "FOR VALUES FROM (%s) TO (%s)",
                    [day.isoformat(), (day + timedelta(days=1)).isoformat()],
                )
        except DatabaseError:
            # Another worker created it between our check and our CREATE.
            if day not in existing_partitions():
                raise
        _known.add(day)


def known_partitions(days: set[date]) -> bool:
    """Whether this process knows the partitions for `days` exist."""
    return days <= _known


def existing_partitions() -> list[date]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            [TABLE],
        )
        names = [row[0] for row in cursor.fetchall()]
    return sorted(datetime.strptime(n.rsplit("_", 1)[1], "%Y%m%d").date() for n in names)


def drop_partitions_before(cutoff: date) -> list[date]:
    """Drop whole days older than `cutoff`: cheaper than DELETE and leaves nothing to vacuum."""
    dropped = [day for day in existing_partitions() if day < cutoff]
    with connection.cursor() as cursor:
        for day in dropped:
            cursor.execute(f"DROP TABLE IF EXISTS {partition_name(day)}")
    _known.difference_update(dropped)
    return dropped


def forget_known() -> None:
    """Forget the cache (tests drop and recreate the table)."""
    _known.clear()
