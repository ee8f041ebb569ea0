"""Turns completion events into usage rows and stores a batch of them in one transaction.

Shared by the live consumer and `rebuild`, so both write exactly the same rows.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Table, TextClause, func, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from cortex_contracts.events.usage import CompletionRecorded
from cortex_contracts.messages.usage import as_utc


class UnreadableEvent(Exception):
    """Not a completion event this service understands: dead-lettered, never retried."""


def parse_event(data: bytes) -> CompletionRecorded:
    try:
        return CompletionRecorded.model_validate_json(data)
    except ValidationError as error:
        raise UnreadableEvent(str(error)) from error


def _text(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL characters; an upstream error message might."""
    return None if value is None else value.replace("\x00", "")


def to_row(event: CompletionRecorded, stream_seq: int) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "completion_id": _text(event.aggregate_id),
        "occurred_at": as_utc(event.occurred_at),
        "user_id": _text(event.actor.user_id),
        "org_id": _text(event.actor.org_id),
        "api_key_id": _text(event.api_key_id),
        "model": _text(event.model),
        "engine_type": _text(event.engine_type),
        "source": event.source,
        "stream": event.stream,
        "status": event.status,
        "error": _text(event.error),
        "finish_reason": _text(event.finish_reason),
        "http_status": event.http_status,
        "prompt_tokens": event.prompt_tokens,
        "completion_tokens": event.completion_tokens,
        "total_tokens": event.total_tokens,
        "ttft_ms": event.ttft_ms,
        "latency_ms": event.latency_ms,
        "decode_tokens_per_s": event.decode_tokens_per_s,
        "chat_session_id": _text(event.chat_session_id),
        "stream_seq": stream_seq,
    }


@dataclass(frozen=True)
class UsageStore:
    """The pair of tables a writer fills: the live ones, or a rebuild's fresh copies."""

    records: Table
    position: Table
    consumer: str

    async def insert(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> int:
        """Inserts the rows not stored yet and advances the position; returns how many were new.

        Rows go in event-id order: two replicas inserting overlapping batches (a redelivery)
        then take the unique-index locks in the same order and cannot deadlock.
        """
        if not rows:
            return 0
        rows = sorted(rows, key=lambda row: row["event_id"])
        columns = {c.name: [row[c.name] for row in rows] for c in self.records.c}
        inserted = await conn.execute(self._insert_statement, columns)
        new_rows = len(inserted.all())
        await self._advance(conn, max(row["stream_seq"] for row in rows))
        return new_rows

    @cached_property
    def _insert_statement(self) -> TextClause:
        """One statement per batch whatever its size: each column travels as one array.

        Far cheaper than a multi-row VALUES, whose SQL (and parameter list) grows with the batch.
        """
        dialect = postgresql.dialect()
        names = ", ".join(column.name for column in self.records.c)
        arrays = ", ".join(
            f"CAST(:{column.name} AS {column.type.compile(dialect=dialect)}[])"
            for column in self.records.c
        )
        return text(
            f"INSERT INTO {self.records.name} ({names}) SELECT * FROM unnest({arrays})"
            " ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
        )

    async def _advance(self, conn: AsyncConnection, stream_seq: int) -> None:
        statement = pg_insert(self.position).values(
            consumer=self.consumer, stream_seq=stream_seq, updated_at=datetime.now(UTC)
        )
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=["consumer"],
                set_={
                    "stream_seq": func.greatest(
                        self.position.c.stream_seq, statement.excluded.stream_seq
                    ),
                    "updated_at": statement.excluded.updated_at,
                },
            )
        )
