"""Replays chat events into fresh copies of the tables, through the live projection's rules.

Events are folded in memory (one state per session) and the rows written in batches with COPY;
sessions that change again are upserted from a staging table (cortex_sessions.bulk). Because
the replay sees every subject's events in stream order, each event is in its turn when it
arrives.
"""

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection, sql
from sqlalchemy import Table

from cortex_sessions.bulk import copy_rows, message_values, session_values, upsert
from cortex_sessions.consumer import read_event
from cortex_sessions.fold import (
    Applied,
    MessageRow,
    SessionRow,
    Tombstone,
    evolve,
    position,
    session_key,
    skip,
)


class Replay:
    def __init__(
        self,
        sessions: Table,
        messages: Table,
        tombstones: Table,
        max_event_bytes: int | None = None,  # as the live projection: larger ones are skipped
        *,
        partitioned: bool,  # the deployment's subject layout (`fold.session_key`)
    ) -> None:
        self.sessions, self.messages, self.tombstones = sessions, messages, tombstones
        self.max_event_bytes = max_event_bytes
        self.partitioned = partitioned
        self.state: dict[UUID, SessionRow | Tombstone] = {}
        self.applied_through = 0
        self.events = 0
        self.rejected = 0
        self._new_messages: list[MessageRow] = []
        self._dirty: set[UUID] = set()
        self._rows_in_table: set[UUID] = set()

    @property
    def pending_rows(self) -> int:
        return len(self._new_messages) + len(self._dirty)

    def apply(self, seq: int, subject: str, data: bytes) -> None:
        self.applied_through = max(self.applied_through, seq)
        key = session_key(subject, partitioned=self.partitioned)
        if key is None:
            return
        stored = self.state.get(key.session_id)
        if seq <= position(stored):
            return
        self.events += 1
        result = evolve(stored, key, seq, read_event(data, self.max_event_bytes))
        if isinstance(result, Applied):
            after: SessionRow | Tombstone | None = result.row or result.tombstone
            if result.message is not None:
                self._new_messages.append(result.message)
        else:
            self.rejected += 1
            after = skip(stored, key, seq)
        assert after is not None
        self.state[key.session_id] = after
        self._dirty.add(key.session_id)

    async def flush(self, conn: AsyncConnection[Any]) -> None:
        """Write what changed since the last flush (in the caller's transaction)."""
        rows: list[SessionRow] = []
        tombstones: list[Tombstone] = []
        for session_id in self._dirty:
            stored = self.state[session_id]
            if isinstance(stored, SessionRow):
                rows.append(stored)
            else:
                tombstones.append(stored)
        gone = [t.session_id for t in tombstones if t.session_id in self._rows_in_table]
        if gone:  # their messages go with them (ON DELETE CASCADE)
            await conn.execute(
                sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(
                    sql.Identifier(self.sessions.name)
                ),
                (gone,),
            )
        await upsert(conn, self.sessions, "id", (session_values(r) for r in rows))
        live_messages = (
            message_values(m)
            for m in self._new_messages
            if isinstance(self.state[m.session_id], SessionRow)
        )
        await copy_rows(conn, self.messages, live_messages)
        await upsert(
            conn,
            self.tombstones,
            "session_id",
            ((t.session_id, t.user_id, t.deleted_seq) for t in tombstones),
        )
        self._rows_in_table.difference_update(gone)
        self._rows_in_table.update(r.id for r in rows)
        self._new_messages.clear()
        self._dirty.clear()
