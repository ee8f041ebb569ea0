"""Turns completion events into usage rows and stores a batch of them in one transaction.

Shared by the live consumer and `rebuild`, so both write exactly the same rows.
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import pydantic_core
from pydantic import ValidationError
from sqlalchemy import Table, TextClause, func, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from cortex_contracts.events.usage import CompletionRecorded
from cortex_contracts.messages.usage import as_utc
from cortex_runtime.parking import MALFORMED, unreadable_kind

MAX_ERROR_CHARS = 4000


class UnreadableEvent(Exception):
    """Not a completion event this service understands: dead-lettered, never retried."""

    def __init__(self, reason: str, kind: str = MALFORMED) -> None:
        super().__init__(reason)
        self.kind = kind  # a parking kind: malformed or wrong-version


def parse_event(data: bytes) -> CompletionRecorded:
    try:
        return CompletionRecorded.model_validate_json(data)
    except ValidationError as error:
        raise UnreadableEvent(str(error), unreadable_kind(error)) from error


def _text(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL characters; an upstream error message might."""
    return None if value is None else value.replace("\x00", "")


def _error_text(value: str | None) -> str | None:
    """An upstream's error page can be huge; its start says what went wrong."""
    cleaned = _text(value)
    if cleaned is None or len(cleaned) <= MAX_ERROR_CHARS:
        return cleaned
    return cleaned[: MAX_ERROR_CHARS - 1] + "…"


def _finite(value: float | None) -> float | None:
    """JSON (and so the batch) has no NaN or infinity: such a measurement is no measurement."""
    return value if value is not None and math.isfinite(value) else None


def to_row(event: CompletionRecorded, stream_seq: int) -> dict[str, Any]:
    """The row as JSON-ready values (a batch travels to PostgreSQL as one JSON document)."""
    latency_ms = _finite(event.latency_ms)
    if latency_ms is None:
        raise UnreadableEvent(f"latency_ms is not a number: {event.latency_ms}")
    return {
        "event_id": str(event.event_id),
        "completion_id": _text(event.aggregate_id),
        "occurred_at": as_utc(event.occurred_at).isoformat(),
        "user_id": _text(event.actor.user_id),
        "org_id": _text(event.actor.org_id),
        "api_key_id": _text(event.api_key_id),
        "model": _text(event.model),
        "engine_type": _text(event.engine_type),
        "source": event.source,
        "stream": event.stream,
        "status": event.status,
        "error": _error_text(event.error),
        "finish_reason": _text(event.finish_reason),
        "http_status": event.http_status,
        "prompt_tokens": event.prompt_tokens,
        "completion_tokens": event.completion_tokens,
        "total_tokens": event.total_tokens,
        "ttft_ms": _finite(event.ttft_ms),
        "latency_ms": latency_ms,
        "decode_tokens_per_s": _finite(event.decode_tokens_per_s),
        "chat_session_id": _text(event.chat_session_id),
        "stream_seq": stream_seq,
    }


def read_row(data: bytes, stream_seq: int) -> dict[str, Any]:
    """The row of one stored event, or UnreadableEvent."""
    return to_row(parse_event(data), stream_seq)


@dataclass(frozen=True)
class UsageStore:
    """The pair of tables a writer fills: the live ones, or a rebuild's fresh copies."""

    records: Table
    position: Table
    dirty_hours: Table
    consumer: str

    async def insert(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> int:
        """Inserts the rows not stored yet and advances the position; returns how many were new.

        Rows go in event-id order: two replicas inserting overlapping batches (a redelivery)
        then take the unique-index locks in the same order and cannot deadlock.
        """
        if not rows:
            return 0
        rows = sorted(rows, key=lambda row: row["event_id"])
        batch = pydantic_core.to_json(rows).decode()  # several times faster than json.dumps
        new_rows = (await conn.execute(self._insert_statement, {"rows": batch})).rowcount
        await self._advance(conn, max(row["stream_seq"] for row in rows))
        await self._mark_hours(conn, rows)
        return new_rows

    async def _mark_hours(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
        """Last, so the lock on the current hour's mark is held only until the commit; in time
        order, so that concurrent batches take those locks in the same order."""
        # UTC ISO 8601 times: the first 13 characters name the hour ("2026-11-24T06").
        starts = sorted({row["occurred_at"][:13] for row in rows})
        hours = [datetime.fromisoformat(f"{start}:00:00+00:00") for start in starts]
        statement = pg_insert(self.dirty_hours).values(
            [{"hour": hour, "marked_at": func.now()} for hour in hours]
        )
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=["hour"], set_={"marked_at": statement.excluded.marked_at}
            )
        )

    @cached_property
    def _insert_statement(self) -> TextClause:
        """One statement and one parameter per batch, whatever its size: the rows as JSON.

        Far cheaper than a multi-row VALUES (its SQL and parameter list grow with the batch) or
        one array per column (the driver escapes every element in Python).
        """
        dialect = postgresql.dialect()
        names = ", ".join(column.name for column in self.records.c)
        types = ", ".join(
            f"{column.name} {column.type.compile(dialect=dialect)}" for column in self.records.c
        )
        return text(
            f"INSERT INTO {self.records.name} ({names})"
            f" SELECT {names} FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS batch({types})"
            " ON CONFLICT (event_id) DO NOTHING"
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
