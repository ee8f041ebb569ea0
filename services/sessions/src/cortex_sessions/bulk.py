"""Rows written in bulk, in the caller's transaction: COPY for new rows, and an INSERT with
ON CONFLICT for rows that may exist (from typed arrays, or from a staging table filled by
COPY). The replay (rebuild, verify) and the live projector write through these; COPY costs
PostgreSQL and the client far less per row than an INSERT or UPDATE per row, which was most of
the live projection's time.

A missing JSON value is written as SQL NULL (readers treat it as JSON null).
"""

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql

from cortex_sessions.fold import MessageRow, SessionRow

STAGE_FROM_ROWS = 1000


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
    table: Table,
    rows: Iterable[Sequence[Any]],
    *,
    into: str | None = None,
) -> int:
    """COPY `rows` (every column, in table order) into `table`, or into the table `into` of the
    same columns. In binary: neither side formats or parses text (a third of the client's and
    half of PostgreSQL's time per row of a replay's COPY, timestamps the dearest)."""
    columns = [c.name for c in table.columns]
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(into or table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    written = 0
    async with conn.cursor() as cursor, cursor.copy(statement) as copy:
        copy.set_types([name.split("(")[0].lower() for name in _sql_types(table)])
        for row in rows:
            await copy.write_row(row)
            written += 1
    return written


async def upsert(
    conn: AsyncConnection[Any], table: Table, key: str, rows: Iterable[Sequence[Any]]
) -> None:
    """Insert `rows` (every column, in table order), or update the row with the same `key`."""
    columns = [c.name for c in table.columns]
    updates = sql.SQL(", ").join(
        sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
        for c in columns
        if c != key
    )
    conflict = sql.SQL("ON CONFLICT ({}) DO UPDATE SET {}").format(sql.Identifier(key), updates)
    await _insert(conn, table, rows, conflict)


async def insert_new(
    conn: AsyncConnection[Any], table: Table, key: str, rows: Iterable[Sequence[Any]]
) -> int:
    """Insert `rows` (every column, in table order) whose `key` is not taken; how many were."""
    conflict = sql.SQL("ON CONFLICT ({}) DO NOTHING").format(sql.Identifier(key))
    return await _insert(conn, table, rows, conflict)


async def _insert(
    conn: AsyncConnection[Any],
    table: Table,
    rows: Iterable[Sequence[Any]],
    conflict: sql.Composed,
) -> int:
    """A few rows (a live batch) in one statement: a typed array per column, `unnest`ed back
    into rows; the arrays go in binary (`%b`: psycopg's text array dumper escapes every element
    in Python, 8 % of the live projection's CPU). Many rows (a replay's flush) through a
    staging table filled by COPY: four statements, but cheaper per row (the replay lost a
    quarter of its speed with arrays)."""
    rows = list(rows)
    if not rows:
        return 0
    if len(rows) < STAGE_FROM_ROWS:
        arrays = sql.SQL(", ").join(
            sql.SQL("%b::{}[]").format(sql.SQL(name)) for name in _sql_types(table)
        )
        source: sql.Composable = sql.SQL("unnest({})").format(arrays)
        params: list[Any] | None = [list(values) for values in zip(*rows, strict=True)]
    else:
        stage = f"{table.name}_stage"
        await conn.execute(
            sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {})").format(
                sql.Identifier(stage), sql.Identifier(table.name)
            )
        )
        await conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(stage)))
        await copy_rows(conn, table, rows, into=stage)
        source, params = sql.Identifier(stage), None
    cursor = await conn.execute(
        sql.SQL("INSERT INTO {} SELECT * FROM {} {}").format(
            sql.Identifier(table.name), source, conflict
        ),
        params,
    )
    return cursor.rowcount


@lru_cache
def _sql_types(table: Table) -> tuple[str, ...]:
    """Each column's PostgreSQL type, compiled once per table (77 us a time: the live
    projection writes through here in every batch)."""
    dialect = postgresql.dialect()
    return tuple(str(column.type.compile(dialect=dialect)) for column in table.columns)


def _json(value: dict[str, Any] | None) -> Jsonb | None:
    return None if value is None else Jsonb(value)
