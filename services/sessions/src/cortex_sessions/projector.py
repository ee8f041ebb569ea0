"""Applies one chat event to the tables, exactly once and in each session's order.

Each event names the sequence of its session's previous event (`previous_seq`). An event is
applied only when the session's stored position equals it; an older or equal position means the
event was already applied (a redelivery: skip), a newer predecessor still missing means it arrived
early (another replica is applying the predecessor: try again shortly).
"""

from enum import Enum
from uuid import UUID

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from cortex_contracts.events.chat import (
    UNTITLED,
    AnyChatEvent,
    MessageAdded,
    SessionCreated,
    SessionDeleted,
    SessionModelChanged,
    title_from_message,
)
from cortex_sessions.tables import chat_messages, chat_session_tombstones, chat_sessions


class Outcome(Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    EARLY = "early"


class Projector:
    def __init__(
        self,
        sessions: Table = chat_sessions,
        messages: Table = chat_messages,
        tombstones: Table = chat_session_tombstones,
    ) -> None:
        self.sessions = sessions
        self.messages = messages
        self.tombstones = tombstones

    async def apply(self, conn: AsyncConnection, seq: int, event: AnyChatEvent) -> Outcome:
        session_id = UUID(event.aggregate_id)
        if isinstance(event, SessionCreated):
            return await self._create(conn, seq, session_id, event)
        position = await conn.scalar(
            select(self.sessions.c.last_seq)
            .where(self.sessions.c.id == session_id)
            .with_for_update()
        )
        if position is None:
            deleted_seq = await conn.scalar(
                select(self.tombstones.c.deleted_seq).where(
                    self.tombstones.c.session_id == session_id
                )
            )
            return Outcome.DUPLICATE if deleted_seq is not None else Outcome.EARLY
        if position >= seq:
            return Outcome.DUPLICATE
        if position != event.previous_seq:
            return Outcome.EARLY
        if isinstance(event, MessageAdded):
            await self._add_message(conn, seq, session_id, event)
        elif isinstance(event, SessionModelChanged):
            await conn.execute(
                update(self.sessions)
                .where(self.sessions.c.id == session_id)
                .values(
                    model_name=event.model_name,
                    engine_type=event.engine_type,
                    constraints_json=event.constraints_json,
                    updated_at=event.occurred_at,
                    last_seq=seq,
                )
            )
        elif isinstance(event, SessionDeleted):
            await self._delete(conn, seq, session_id, event)
        return Outcome.APPLIED

    async def _create(
        self, conn: AsyncConnection, seq: int, session_id: UUID, event: SessionCreated
    ) -> Outcome:
        if await conn.scalar(
            select(self.tombstones.c.deleted_seq).where(self.tombstones.c.session_id == session_id)
        ):
            return Outcome.DUPLICATE
        inserted = await conn.execute(
            pg_insert(self.sessions)
            .values(
                id=session_id,
                user_id=event.actor.user_id,
                title=event.title or UNTITLED,
                auto_title=event.title is None,
                model_name=event.model_name,
                engine_type=event.engine_type,
                constraints_json=event.constraints_json,
                created_at=event.occurred_at,
                updated_at=event.occurred_at,
                message_count=0,
                last_seq=seq,
            )
            .on_conflict_do_nothing(index_elements=["id"])
        )
        return Outcome.APPLIED if inserted.rowcount else Outcome.DUPLICATE

    async def _add_message(
        self, conn: AsyncConnection, seq: int, session_id: UUID, event: MessageAdded
    ) -> None:
        await conn.execute(
            insert(self.messages).values(
                id=seq,
                session_id=session_id,
                role=event.role,
                content=event.content,
                metrics_json=event.metrics_json,
                created_at=event.occurred_at,
            )
        )
        values: dict[str, object] = {
            "message_count": self.sessions.c.message_count + 1,
            "updated_at": event.occurred_at,
            "last_seq": seq,
            "model_name": event.model_name,
        }
        sessions = self.sessions
        if event.role == "user":
            await conn.execute(
                update(sessions)
                .where(sessions.c.id == session_id, sessions.c.auto_title.is_(True))
                .values(title=title_from_message(event.content), auto_title=False)
            )
        await conn.execute(update(sessions).where(sessions.c.id == session_id).values(**values))

    async def _delete(
        self, conn: AsyncConnection, seq: int, session_id: UUID, event: SessionDeleted
    ) -> None:
        await conn.execute(delete(self.sessions).where(self.sessions.c.id == session_id))
        await conn.execute(
            pg_insert(self.tombstones)
            .values(session_id=session_id, user_id=event.actor.user_id, deleted_seq=seq)
            .on_conflict_do_nothing(index_elements=["session_id"])
        )
