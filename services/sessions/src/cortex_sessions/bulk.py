"""Rows written in bulk, in the caller's transaction: COPY for new rows, and an upsert from a
temporary staging table (filled by COPY) for rows that exist. The replay (rebuild, verify) and
the live projector write through these; COPY costs PostgreSQL and the client far less per row
than an INSERT or UPDATE per row, which was most of the live projection's time.

A missing JSON value is written as SQL NULL (readers treat it as JSON null).
"""

from collections.abc import Iterable, Sequence
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb
from sqlalchemy import Table

from cortex_sessions.fold import MessageRow, SessionRow


def session_values(row: SessionRow) -> tuple[Any, ...]:
    """In the column order of `chat_sessions`."""
    return (
        row.id,
        row.user_id,
        row.title,
        row.auto_title,
        row.model_name,
        row.engine_type,
        _json(row.constraints_json),
        row.created_at,
        row.updated_at,
        row.message_count,
        row.last_seq,
    )


def message_values(row: MessageRow) -> tuple[Any, ...]:
    """In the column order of `chat_messages`."""
    return (row.id, row.session_id, row.role, row.content, _json(row.metrics_json), row.created_at)


async def copy_rows(
    conn: AsyncConnection[Any],
    table: Table | str,
    rows: Iterable[Sequence[Any]],
    columns: list[str] | None = None,
) -> int:
    """COPY `rows` (in the order of `columns`, by default the table's) into `table`."""
    name = table if isinstance(table, str) else table.name
    if columns is None:
        assert not isinstance(table, str)
        columns = [c.name for c in table.columns]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    written = 0
    async with conn.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            await copy.write_row(row)
            written += 1
    return written


async def upsert(
    conn: AsyncConnection[Any], table: Table, key: str, rows: Iterable[Sequence[Any]]
) -> None:
    """Insert `rows` (every column, in table order), or update the row with the same `key`."""
    columns = await _staged(conn, table, rows)
    if not columns:
        return
    updates = sql.SQL(", ").join(
        sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
        for c in columns
        if c != key
    )
    await conn.execute(
        sql.SQL("INSERT INTO {} SELECT * FROM {} ON CONFLICT ({}) DO UPDATE SET {}").format(
            sql.Identifier(table.name), _stage(table), sql.Identifier(key), updates
        )
    )


async def insert_new(
    conn: AsyncConnection[Any], table: Table, key: str, rows: Iterable[Sequence[Any]]
) -> int:
    """Insert `rows` (every column, in table order) whose `key` is not taken; how many were."""
    if not await _staged(conn, table, rows):
        return 0
    cursor = await conn.execute(
        sql.SQL("INSERT INTO {} SELECT * FROM {} ON CONFLICT ({}) DO NOTHING").format(
            sql.Identifier(table.name), _stage(table), sql.Identifier(key)
        )
    )
    return cursor.rowcount


async def _staged(
    conn: AsyncConnection[Any], table: Table, rows: Iterable[Sequence[Any]]
) -> list[str]:
    """`rows` copied into the table's (emptied) staging table; its columns, none if no rows."""
    await conn.execute(
        sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {})").format(
            _stage(table), sql.Identifier(table.name)
        )
    )
    await conn.execute(sql.SQL("TRUNCATE {}").format(_stage(table)))
    columns = [c.name for c in table.columns]
    if not await copy_rows(conn, f"{table.name}_stage", rows, columns):
        return []
    return columns


def _stage(table: Table) -> sql.Identifier:
    return sql.Identifier(f"{table.name}_stage")


def _json(value: dict[str, Any] | None) -> Jsonb | None:
    return None if value is None else Jsonb(value)
