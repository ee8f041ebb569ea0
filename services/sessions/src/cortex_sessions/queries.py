"""Answers to the gateway's session queries, after the projection caught up with the caller's
last write (read-your-writes), or an error telling it to retry."""

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from uuid import UUID

from nats.js import JetStreamContext
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cortex_contracts.messages import ErrorReply
from cortex_contracts.messages.sessions import (
    GetSession,
    ListSessions,
    MessageView,
    SessionPage,
    SessionReply,
    SessionSummary,
    SessionView,
)
from cortex_contracts.topology import Topology
from cortex_sessions.tables import chat_messages, chat_session_tombstones, chat_sessions

POLL_SEC = 0.003


class NotCaughtUp(Exception):
    pass


class BadCursor(Exception):
    pass


def encode_cursor(updated_at: datetime, session_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"{updated_at.isoformat()}|{session_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        stamp, session_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(stamp), UUID(session_id)
    except ValueError as error:
        raise BadCursor from error


async def wait_until(reached: Callable[[], Awaitable[bool]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await reached():
        if time.monotonic() > deadline:
            raise NotCaughtUp
        await asyncio.sleep(POLL_SEC)


SUMMARY_COLUMNS = (
    chat_sessions.c.id,
    chat_sessions.c.title,
    chat_sessions.c.model_name,
    chat_sessions.c.engine_type,
    chat_sessions.c.message_count,
    chat_sessions.c.created_at,
    chat_sessions.c.updated_at,
)


class SessionQueries:
    def __init__(
        self, engine: AsyncEngine, js: JetStreamContext, topology: Topology, timeout: float
    ) -> None:
        self.engine = engine
        self.js = js
        self.topology = topology
        self.timeout = timeout

    async def _projected_through(self, seq: int) -> bool:
        """Every event up to `seq` is applied: the durable consumer's ack floor passed it."""
        info = await self.js.consumer_info(
            self.topology.chat_stream, self.topology.sessions_consumer
        )
        return bool(info.ack_floor and (info.ack_floor.stream_seq or 0) >= seq)

    async def list(self, query: ListSessions) -> SessionPage | ErrorReply:
        after = None
        if query.cursor:
            try:
                after = decode_cursor(query.cursor)
            except BadCursor:
                return ErrorReply(error="Invalid cursor.", status=422)
        if query.min_seq:
            try:
                await wait_until(lambda: self._projected_through(query.min_seq), self.timeout)
            except NotCaughtUp:
                return _not_caught_up()
        statement = (
            select(*SUMMARY_COLUMNS)
            .where(chat_sessions.c.user_id == query.user_id)
            .order_by(chat_sessions.c.updated_at.desc(), chat_sessions.c.id.desc())
            .limit(query.limit + 1)
        )
        if after is not None:
            statement = statement.where(
                tuple_(chat_sessions.c.updated_at, chat_sessions.c.id) < tuple_(*after)
            )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(statement)).mappings().all()
        page = [SessionSummary(**{**row, "id": str(row["id"])}) for row in rows[: query.limit]]
        next_cursor = None
        if len(rows) > query.limit:
            last = rows[query.limit - 1]
            next_cursor = encode_cursor(last["updated_at"], last["id"])
        return SessionPage(sessions=page, next_cursor=next_cursor)

    async def get(self, query: GetSession) -> SessionReply | ErrorReply:
        session_id = UUID(query.session_id)

        async def reached() -> bool:
            async with self.engine.connect() as conn:
                return await _session_position(conn, session_id) >= query.min_seq

        try:
            await wait_until(reached, self.timeout)
        except NotCaughtUp:
            return _not_caught_up()
        async with self.engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(*SUMMARY_COLUMNS, chat_sessions.c.constraints_json).where(
                            chat_sessions.c.id == session_id,
                            chat_sessions.c.user_id == query.user_id,
                        )
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                return SessionReply(session=None)
            messages = (
                (
                    await conn.execute(
                        select(chat_messages)
                        .where(chat_messages.c.session_id == session_id)
                        .order_by(chat_messages.c.id)
                    )
                )
                .mappings()
                .all()
            )
        return SessionReply(
            session=SessionView(
                **{**row, "id": str(row["id"])},
                messages=[
                    MessageView(**{**message, "session_id": str(message["session_id"])})
                    for message in messages
                ],
            )
        )


async def _session_position(conn: AsyncConnection, session_id: UUID) -> int:
    live = await conn.scalar(
        select(chat_sessions.c.last_seq).where(chat_sessions.c.id == session_id)
    )
    if live is not None:
        return int(live)
    deleted = await conn.scalar(
        select(chat_session_tombstones.c.deleted_seq).where(
            chat_session_tombstones.c.session_id == session_id
        )
    )
    return int(deleted or 0)


def _not_caught_up() -> ErrorReply:
    return ErrorReply(
        error="Your latest change is still being saved. Retry in a moment.",
        status=503,
        retry_after=1,
    )
