"""Applies one chat event to the live tables, exactly once and in its session's order.

The session's row (or tombstone) is locked and read, the rules of `fold` decide, and the change
and the new position are written in the caller's transaction: a redelivered event finds its
position already passed and is skipped. Replicas may receive a session's events out of order; an
event that is not yet in its turn is reported EARLY and retried later.
"""

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from enum import Enum

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from cortex_contracts.events.chat import AnyChatEvent
from cortex_sessions.fold import (
    Applied,
    Rejected,
    SessionKey,
    SessionRow,
    Stored,
    Tombstone,
    Turn,
    Unreadable,
    evolve,
    position,
    skip,
    turn_of,
)
from cortex_sessions.tables import chat_messages, chat_session_tombstones, chat_sessions


class Outcome(Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    EARLY = "early"
    REJECTED = "rejected"


# Asked when an event's own `previous_seq` cannot tell: is `seq` the next message of the subject
# after `position`? (The live consumer asks the stream.)
InTurn = Callable[[int, int], Awaitable[bool]]
# Records a rejected event on the dead-letter subject before its position is passed.
DeadLetter = Callable[[str], Awaitable[None]]


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

    async def apply(
        self,
        conn: AsyncConnection,
        seq: int,
        key: SessionKey,
        event: AnyChatEvent | Unreadable,
        *,
        in_turn: InTurn,
        dead_letter: DeadLetter,
        give_up: str | None = None,
    ) -> Outcome:
        """`give_up`: reject the event for this reason (it failed too often) once in its turn."""
        stored = await self.load(conn, key)
        turn = turn_of(stored, seq, event)
        if turn is Turn.DONE:
            return Outcome.DUPLICATE
        if turn is Turn.ASK_STREAM and not await in_turn(position(stored), seq):
            return Outcome.EARLY
        result = Rejected(give_up) if give_up else evolve(stored, key, seq, event)
        if isinstance(result, Rejected):
            await dead_letter(result.reason)
            await self._save_position(conn, stored, skip(stored, key, seq))
            return Outcome.REJECTED
        if not await self._save(conn, stored, result):
            return Outcome.DUPLICATE
        return Outcome.APPLIED

    async def load(self, conn: AsyncConnection, key: SessionKey) -> Stored:
        row = (
            (
                await conn.execute(
                    select(self.sessions)
                    .where(self.sessions.c.id == key.session_id)
                    .with_for_update()
                )
            )
            .mappings()
            .first()
        )
        if row is not None:
            return SessionRow(**row)
        tombstone = (
            (
                await conn.execute(
                    select(self.tombstones)
                    .where(self.tombstones.c.session_id == key.session_id)
                    .with_for_update()
                )
            )
            .mappings()
            .first()
        )
        return Tombstone(**tombstone) if tombstone is not None else None

    async def _save(self, conn: AsyncConnection, stored: Stored, change: Applied) -> bool:
        """False when a concurrent delivery of the same creation won the race."""
        if change.row is not None and stored is None:
            created = await conn.execute(
                pg_insert(self.sessions)
                .values(**asdict(change.row))
                .on_conflict_do_nothing(index_elements=["id"])
            )
            if not created.rowcount:
                return False
        elif change.row is not None:
            await self._update_row(conn, change.row)
        if change.message is not None:
            await conn.execute(insert(self.messages).values(**asdict(change.message)))
        if change.tombstone is not None:
            await conn.execute(
                delete(self.sessions).where(self.sessions.c.id == change.tombstone.session_id)
            )
            await self._upsert_tombstone(conn, change.tombstone)
        return True

    async def _save_position(
        self, conn: AsyncConnection, stored: Stored, moved: SessionRow | Tombstone
    ) -> None:
        if isinstance(moved, SessionRow):
            await self._update_row(conn, moved)
        else:
            await self._upsert_tombstone(conn, moved)

    async def _update_row(self, conn: AsyncConnection, row: SessionRow) -> None:
        values = asdict(row)
        del values["id"], values["user_id"], values["created_at"]
        await conn.execute(
            update(self.sessions).where(self.sessions.c.id == row.id).values(**values)
        )

    async def _upsert_tombstone(self, conn: AsyncConnection, tombstone: Tombstone) -> None:
        statement = pg_insert(self.tombstones).values(**asdict(tombstone))
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=["session_id"],
                set_={"deleted_seq": statement.excluded.deleted_seq},
            )
        )
