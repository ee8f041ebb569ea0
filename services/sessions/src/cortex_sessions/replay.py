"""Replays chat events into fresh copies of the tables, through the live projection's rules.

Events are folded in memory (one state per session) and the rows written in batches with COPY
(cortex_sessions.bulk). A session's row is written once when it first appears (its messages
refer to it) and once more when the replay settles (`flush(settle=True)`, at its end): chats are
written interleaved, so a row rewritten at every batch was written about as often as messages,
and PostgreSQL carried a dead version of it each time. Because the replay sees every subject's
events in stream order, each event is in its turn when it arrives.
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
    SessionKey,
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
        partitions: int,  # the deployment's subject layout (`fold.session_key`)
    ) -> None:
        self.sessions, self.messages, self.tombstones = sessions, messages, tombstones
        self.max_event_bytes = max_event_bytes
        self.partitions = partitions
        self.state: dict[UUID, SessionRow | Tombstone] = {}
        self.applied_through = 0
        self.events = 0
        self.rejected = 0
        self._new_messages: list[MessageRow] = []
        self._new_rows: set[UUID] = set()  # sessions not in the table yet
        self._changed_rows: set[UUID] = set()  # in the table, changed since: written when settled
        self._tombstones: set[UUID] = set()
        self._rows_in_table: set[UUID] = set()
        # Subject -> its session: `session_key`'s own cache is sized for a live batch, and a
        # replay of many interleaved chats missed it on nearly every event (a UUID parse each).
        self._keys: dict[str, SessionKey | None] = {}

    @property
    def pending_rows(self) -> int:
        """What the next flush writes (sessions changed in place wait for the settling one)."""
        return len(self._new_messages) + len(self._new_rows) + len(self._tombstones)

    def key(self, subject: str) -> SessionKey | None:
        """The session of a chat subject (None for a stray), as `fold.session_key`."""
        try:
            return self._keys[subject]
        except KeyError:
            key = self._keys[subject] = session_key(subject, partitions=self.partitions)
            return key

    def apply(self, seq: int, subject: str, data: bytes) -> None:
        self.applied_through = max(self.applied_through, seq)
        key = self.key(subject)
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
        if isinstance(after, Tombstone):
            self._tombstones.add(key.session_id)
        elif key.session_id in self._rows_in_table:
            self._changed_rows.add(key.session_id)
        else:
            self._new_rows.add(key.session_id)

    async def flush(self, conn: AsyncConnection[Any], *, settle: bool = True) -> None:
        """Write what changed since the last flush (in the caller's transaction); the rows of
        sessions changed in place only when `settle`: the tables are whole after a settling
        flush."""
        new_rows = self._rows(self._new_rows)
        changed_rows = self._rows(self._changed_rows) if settle else []
        tombstones = [
            t for t in map(self.state.__getitem__, self._tombstones) if isinstance(t, Tombstone)
        ]
        gone = [t.session_id for t in tombstones if t.session_id in self._rows_in_table]
        if gone:  # their messages go with them (ON DELETE CASCADE)
            await conn.execute(
                sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(
                    sql.Identifier(self.sessions.name)
                ),
                (gone,),
            )
        await copy_rows(conn, self.sessions, map(session_values, new_rows))
        await upsert(conn, self.sessions, "id", map(session_values, changed_rows))
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
        self._rows_in_table.update(r.id for r in new_rows)
        self._new_messages.clear()
        self._new_rows.clear()
        self._tombstones.clear()
        if settle:
            self._changed_rows.clear()

    def _rows(self, ids: set[UUID]) -> list[SessionRow]:
        """The rows of those sessions that are not deleted."""
        return [row for row in map(self.state.__getitem__, ids) if isinstance(row, SessionRow)]
