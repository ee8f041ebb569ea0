"""Applies a batch of chat events to the live tables, exactly once and in each session's order.

One transaction per batch (a commit costs milliseconds; a batch pays it once): the sessions'
rows (or tombstones) are locked in id order, so replicas never deadlock, the rules of `fold`
decide each event in stream order in memory, and the changed rows and positions are written with
a handful of statements (COPY for the many rows: cortex_sessions.bulk). A redelivered event
finds its position passed and is skipped. An event whose predecessor another replica holds is
reported EARLY and retried later.
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection as PsycopgConnection
from psycopg import sql
from sqlalchemy import Table, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from cortex_contracts.events.chat import AnyChatEvent
from cortex_sessions.bulk import copy_rows, insert_new, message_values, session_values, upsert
from cortex_sessions.fold import (
    Applied,
    MessageRow,
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
    EARLY = "early"  # its predecessor is not applied yet
    REJECTED = "rejected"  # dead-lettered
    FAILED = "failed"  # applying it failed (the database is away, say): redeliver it later
    ERASED = "erased"  # its chat was erased (cortex_sessions.erasure): acknowledged, not applied


@dataclass(frozen=True)
class Pending:
    """One event to apply; `give_up` rejects it for that reason (it failed too often)."""

    seq: int
    subject: str
    key: SessionKey
    event: AnyChatEvent | Unreadable
    trusted: bool = False  # see `fold.turn_of`
    give_up: str | None = None


class CreatedConcurrently(Exception):
    """Another replica created a session of this batch meanwhile (a redelivery): retry."""


# Is `seq` the next message of `subject` after `position`? (Asked when an event's own
# `previous_seq` cannot tell; the live consumer asks the stream.)
InTurn = Callable[[str, int, int], Awaitable[bool]]
# Records a rejected event on the dead-letter subject before its position is passed.
DeadLetter = Callable[[Pending, str], Awaitable[None]]


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
        batch: Sequence[Pending],
        *,
        in_turn: InTurn,
        dead_letter: DeadLetter,
    ) -> list[Outcome]:
        """Outcomes in the order of `batch` (which is in stream order)."""
        loaded = await self._load(conn, sorted({p.key.session_id for p in batch}))
        states = dict(loaded)
        new_messages: list[MessageRow] = []
        outcomes = []
        for pending in batch:
            current = states.get(pending.key.session_id)
            turn = turn_of(current, pending.seq, pending.event, trusted=pending.trusted)
            if turn is Turn.DONE:
                outcomes.append(Outcome.DUPLICATE)
                continue
            if turn is Turn.LATER or (
                turn is Turn.ASK_STREAM
                and not await in_turn(pending.subject, position(current), pending.seq)
            ):
                outcomes.append(Outcome.EARLY)
                continue
            result = (
                Rejected(pending.give_up)
                if pending.give_up
                else evolve(current, pending.key, pending.seq, pending.event)
            )
            if isinstance(result, Applied):
                states[pending.key.session_id] = result.row or result.tombstone
                if result.message is not None:
                    new_messages.append(result.message)
                outcomes.append(Outcome.APPLIED)
            else:
                await dead_letter(pending, result.reason)
                states[pending.key.session_id] = skip(current, pending.key, pending.seq)
                outcomes.append(Outcome.REJECTED)
        await self._write(conn, loaded, states, new_messages)
        return outcomes

    async def _load(self, conn: AsyncConnection, ids: list[UUID]) -> dict[UUID, Stored]:
        """Locks in id order: two replicas locking overlapping sessions never deadlock."""
        raw = await _driver_connection(conn)
        found: dict[UUID, Stored] = {
            row[0]: SessionRow(*row)
            for row in await _locked(raw, self.sessions, _SESSION_COLUMNS, "id", ids)
        }
        missing = [i for i in ids if i not in found]
        if missing:
            tombstones = await _locked(
                raw, self.tombstones, _TOMBSTONE_COLUMNS, "session_id", missing
            )
            found.update({row[0]: Tombstone(*row) for row in tombstones})
        return found

    async def _write(
        self,
        conn: AsyncConnection,
        loaded: dict[UUID, Stored],
        states: dict[UUID, Stored],
        new_messages: list[MessageRow],
    ) -> None:
        created: list[SessionRow] = []
        changed: list[SessionRow] = []
        tombstones: list[Tombstone] = []
        for session_id, state in states.items():
            before = loaded.get(session_id)
            if state == before:
                continue
            if isinstance(state, SessionRow):
                (changed if isinstance(before, SessionRow) else created).append(state)
            elif isinstance(state, Tombstone):
                tombstones.append(state)
        # New sessions one statement for all (their conflict says another replica was first);
        # messages and changed sessions in bulk (cortex_sessions.bulk).
        raw = await _driver_connection(conn)
        if created:
            inserted = await insert_new(
                raw, self.sessions, "id", (session_values(row) for row in created)
            )
            if inserted < len(created):
                raise CreatedConcurrently
        await copy_rows(
            raw,
            self.messages,
            (
                message_values(m)
                for m in new_messages
                if isinstance(states[m.session_id], SessionRow)
            ),
        )
        if changed:
            await upsert(raw, self.sessions, "id", (session_values(row) for row in changed))
        gone = [
            t.session_id for t in tombstones if isinstance(loaded.get(t.session_id), SessionRow)
        ]
        if gone:  # their messages go with them (ON DELETE CASCADE)
            await conn.execute(delete(self.sessions).where(self.sessions.c.id.in_(gone)))
        if tombstones:
            statement = pg_insert(self.tombstones)
            await conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["session_id"],
                    set_={"deleted_seq": statement.excluded.deleted_seq},
                ),
                [_values(t) for t in tombstones],
            )


def _values(row: SessionRow | MessageRow | Tombstone) -> dict[str, Any]:
    """The row's columns, as they are: `dataclasses.asdict` deep-copies every value."""
    return {f.name: getattr(row, f.name) for f in fields(row)}


_SESSION_COLUMNS = [f.name for f in fields(SessionRow)]
_TOMBSTONE_COLUMNS = [f.name for f in fields(Tombstone)]


async def _locked(
    raw: PsycopgConnection[Any], table: Table, columns: list[str], key: str, ids: list[UUID]
) -> list[tuple[Any, ...]]:
    """The rows of `ids` (`columns` in order), locked for this transaction in key order."""
    statement = sql.SQL("SELECT {} FROM {} WHERE {} = ANY(%s) ORDER BY {} FOR UPDATE").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.Identifier(table.name),
        sql.Identifier(key),
        sql.Identifier(key),
    )
    cursor = await raw.execute(statement, (ids,))
    return await cursor.fetchall()


async def _driver_connection(conn: AsyncConnection) -> PsycopgConnection[Any]:
    """psycopg's own connection under SQLAlchemy's, in the same transaction (for COPY)."""
    driver = (await conn.get_raw_connection()).driver_connection
    assert isinstance(driver, PsycopgConnection)
    return driver
