"""Turns completion events into usage rows and stores a batch of them in one transaction.

Shared by the live consumer and `rebuild`, so both write exactly the same rows.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Table, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from cortex_contracts.events.usage import CompletionRecorded
from cortex_contracts.messages.usage import as_utc

ROWS_PER_STATEMENT = 1000  # 22 parameters a row: well under PostgreSQL's 65,535 per statement


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
        new_rows = 0
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            inserted = await conn.execute(
                pg_insert(self.records)
                .values(rows[start : start + ROWS_PER_STATEMENT])
                .on_conflict_do_nothing(index_elements=["event_id"])
                .returning(self.records.c.event_id)
            )
            new_rows += len(inserted.all())
        await self._advance(conn, max(row["stream_seq"] for row in rows))
        return new_rows

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
