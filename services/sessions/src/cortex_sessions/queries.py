"""Answers to the gateway's session queries, once the projection has caught up with the caller's
last write (read-your-writes), or an error telling it to retry."""

import asyncio
import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy import Select, exists, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cortex_contracts.messages import ErrorReply
from cortex_contracts.messages.sessions import (
    GetSession,
    ListSessions,
    MessageView,
    SessionPage,
    SessionSummary,
    SessionView,
)
from cortex_contracts.topology import Topology
from cortex_sessions.compare_tables import comparison_panes
from cortex_sessions.fold import session_key
from cortex_sessions.metrics import QUERY_SECONDS, REPLICA_READS
from cortex_sessions.partitions import projected_floor
from cortex_sessions.replica import ReadReplica, read_engine, wait_until
from cortex_sessions.tables import chat_messages, chat_session_tombstones, chat_sessions

# The query engine's connections: the queries here are short index walks; statistics can lag
# (a user who just made thousands of chats) and then the planner would rather fetch all of a
# user's chats and sort them. With sorts and bitmap scans priced out, the list always walks
# ix_chat_sessions_user_recent backwards and stops after one page; a session's messages come
# from ix_chat_messages_session in order.
READ_CONNECTION_OPTIONS = "-c enable_sort=off -c enable_bitmapscan=off"

MAX_EVENTS_TO_CHECK = 200  # of one user, past the consumer's ack floor, when the floor lags


class BadCursor(Exception):
    pass


def encode_cursor(updated_at: datetime, session_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"{updated_at.isoformat()}|{session_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        stamp, session_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        moment = datetime.fromisoformat(stamp)
        if moment.tzinfo is None:
            raise ValueError("naive time")
        return moment, UUID(session_id)
    except ValueError as error:
        raise BadCursor from error


SUMMARY_COLUMNS = (
    chat_sessions.c.id,
    chat_sessions.c.title,
    chat_sessions.c.model_name,
    chat_sessions.c.engine_type,
    chat_sessions.c.message_count,
    chat_sessions.c.created_at,
    chat_sessions.c.updated_at,
)
MESSAGE_COLUMNS = (
    chat_messages.c.id,
    chat_messages.c.role,
    chat_messages.c.content,
    chat_messages.c.metrics_json,
    chat_messages.c.created_at,
)


def page_statement(user_id: str, limit: int, after: tuple[datetime, UUID] | None) -> Select[Any]:
    """A page of the user's sessions, most recently active first: a keyset query that walks the
    index (user_id, updated_at, id) backwards, as fast for page 200 as for page 1."""
    pane_of_comparison = exists().where(comparison_panes.c.session_id == chat_sessions.c.id)
    statement = (
        select(*SUMMARY_COLUMNS)
        .where(chat_sessions.c.user_id == user_id, ~pane_of_comparison)  # listed as comparisons
        .order_by(chat_sessions.c.updated_at.desc(), chat_sessions.c.id.desc())
        .limit(limit)
    )
    if after is not None:
        statement = statement.where(
            tuple_(chat_sessions.c.updated_at, chat_sessions.c.id) < tuple_(*after)
        )
    return statement


@dataclass
class SessionQueries:
    engine: AsyncEngine
    js: JetStreamContext
    topology: Topology
    timeout: float
    #: answers lists and gets when set (CORTEX_SESSIONS_DATABASE_READ_URL)
    replica: ReadReplica | None = None
    # the consumer's ack floor only grows: a cached value stays true
    _known_floor: int = field(default=0, init=False)
    # one floor request (a stream info and one consumer info per partition) at a time, shared
    # by every waiting query
    _floor_asked: "asyncio.Task[int] | None" = field(default=None, init=False)

    async def list(self, query: ListSessions) -> SessionPage | ErrorReply:
        with QUERY_SECONDS.labels("list").time():
            after = None
            if query.cursor:
                try:
                    after = decode_cursor(query.cursor)
                except BadCursor:
                    return ErrorReply(error="Invalid cursor.", status=422)
            if query.min_seq and not await wait_until(
                self._user_caught_up(query.user_id, query.min_seq), self.timeout
            ):
                return _not_caught_up()
            engine = await read_engine(self.engine, self.replica, query.min_seq)
            return await self._page(query, after, engine)

    async def get(self, query: GetSession) -> SessionView | ErrorReply:
        with QUERY_SECONDS.labels("get").time():
            try:
                session_id = UUID(query.session_id)
            except ValueError:
                return NOT_FOUND
            answer: SessionView | ErrorReply | None = None
            if self.replica is not None:
                # The row on the replica shows the caller's write (its position is past
                # min_seq) or none is needed: the replica's answer is as fresh as the primary's.
                # Otherwise the primary answers, once it has the write.
                async with self.replica.engine.connect() as conn:
                    answer = await _read_session(conn, query.user_id, session_id, query.min_seq)
                REPLICA_READS.labels("replica" if answer is not None else "primary").inc()
                if answer is not None:
                    return answer

            async def reached() -> bool:
                nonlocal answer
                async with self.engine.connect() as conn:
                    answer = await _read_session(conn, query.user_id, session_id, query.min_seq)
                return answer is not None or await self._projected_through(query.min_seq)

            if not await wait_until(reached, self.timeout):
                return _not_caught_up()
            if answer is None:  # passed only by the ack floor (its last event was dead-lettered)
                async with self.engine.connect() as conn:
                    answer = await _read_session(conn, query.user_id, session_id, 0)
            assert answer is not None
            return answer

    async def _page(
        self, query: ListSessions, after: tuple[datetime, UUID] | None, engine: AsyncEngine
    ) -> SessionPage:
        statement = page_statement(query.user_id, query.limit + 1, after)
        async with engine.connect() as conn:
            rows = (await conn.execute(statement)).all()
        page = [_summary(row._mapping) for row in rows[: query.limit]]
        next_cursor = None
        if len(rows) > query.limit:
            last = rows[query.limit - 1]
            next_cursor = encode_cursor(last.updated_at, last.id)
        return SessionPage(sessions=page, next_cursor=next_cursor)

    async def _projected_through(self, seq: int) -> bool:
        """Every event up to `seq` is handled: every partition's consumer passed it."""
        if self._known_floor >= seq:
            return True
        if self._floor_asked is None or self._floor_asked.done():
            self._floor_asked = asyncio.create_task(projected_floor(self.js, self.topology))
        floor = await asyncio.shield(self._floor_asked)
        self._known_floor = max(self._known_floor, floor)
        return self._known_floor >= seq

    def _user_caught_up(self, user_id: str, min_seq: int) -> Callable[[], Awaitable[bool]]:
        """All of the user's events up to `min_seq` are handled.

        Usually the ack floor shows it at once. When it lags (a replica died holding other events,
        an event waits for its retry), the user's own events past the floor are checked against
        their sessions' positions instead, so one slow event does not hold back everyone's lists.
        """
        waiting: dict[UUID, int] | None = None
        scanned = False

        async def reached() -> bool:
            nonlocal waiting, scanned
            if await self._projected_through(min_seq):
                return True
            if not scanned:
                scanned = True
                waiting = await self._user_events_after(user_id, self._known_floor, min_seq)
            if waiting is None:
                return False
            async with self.engine.connect() as conn:
                positions = await _positions(conn, list(waiting))
            waiting = {sid: seq for sid, seq in waiting.items() if positions.get(sid, 0) < seq}
            return not waiting

        return reached

    async def _user_events_after(
        self, user_id: str, floor: int, last: int
    ) -> dict[UUID, int] | None:
        """Newest sequence per session of the user's events in (floor, last]; None if too many."""
        subjects = self.topology.chat_user_subjects(user_id)
        newest: dict[UUID, int] = {}
        seq = floor + 1
        for _ in range(MAX_EVENTS_TO_CHECK):
            try:
                found = await self.js.get_msg(
                    self.topology.chat_stream, seq=seq, subject=subjects, next=True, direct=True
                )
            except NotFoundError:
                return newest
            if found.seq is None or found.seq > last:
                return newest
            key = session_key(found.subject or "", partitions=self.topology.chat_partitions)
            if key is None:
                return None
            newest[key.session_id] = found.seq
            seq = found.seq + 1
        return None


SESSION_WITH_MESSAGES = chat_sessions.outerjoin(
    chat_messages,
    (chat_messages.c.session_id == chat_sessions.c.id)
    # Only messages up to the row's position: the same snapshot as the row itself.
    & (chat_messages.c.id <= chat_sessions.c.last_seq),
)
MESSAGE_LABELS = tuple(column.label(f"message_{column.name}") for column in MESSAGE_COLUMNS)


async def _read_session(
    conn: AsyncConnection, user_id: str, session_id: UUID, min_seq: int
) -> SessionView | ErrorReply | None:
    """The session as of its projected position, or None while that is short of `min_seq`.
    One round trip: the session's columns come with each of its messages."""
    rows = (
        await conn.execute(
            select(
                *SUMMARY_COLUMNS,
                chat_sessions.c.constraints_json,
                chat_sessions.c.user_id,
                chat_sessions.c.last_seq,
                *MESSAGE_LABELS,
            )
            .select_from(SESSION_WITH_MESSAGES)
            .where(chat_sessions.c.id == session_id)
            .order_by(chat_messages.c.id)
        )
    ).all()
    if not rows:
        deleted = await conn.scalar(
            select(chat_session_tombstones.c.deleted_seq).where(
                chat_session_tombstones.c.session_id == session_id
            )
        )
        return NOT_FOUND if (deleted or 0) >= min_seq else None
    first = rows[0]
    if first.user_id != user_id:
        return NOT_FOUND
    if first.last_seq < min_seq:
        return None
    return SessionView(
        **_summary(first._mapping).model_dump(),
        constraints_json=first.constraints_json,
        messages=[
            MessageView(
                id=row.message_id,
                session_id=str(session_id),
                role=row.message_role,
                content=row.message_content,
                metrics_json=row.message_metrics_json,
                created_at=row.message_created_at,
            )
            for row in rows
            if row.message_id is not None
        ],
    )


async def _positions(conn: AsyncConnection, session_ids: list[UUID]) -> dict[UUID, int]:
    live = await conn.execute(
        select(chat_sessions.c.id, chat_sessions.c.last_seq).where(
            chat_sessions.c.id.in_(session_ids)
        )
    )
    deleted = await conn.execute(
        select(chat_session_tombstones.c.session_id, chat_session_tombstones.c.deleted_seq).where(
            chat_session_tombstones.c.session_id.in_(session_ids)
        )
    )
    return {**{sid: seq for sid, seq in deleted.all()}, **{sid: seq for sid, seq in live.all()}}


def _summary(row: Any) -> SessionSummary:
    return SessionSummary(
        id=str(row["id"]),
        title=row["title"],
        model_name=row["model_name"],
        engine_type=row["engine_type"],
        message_count=row["message_count"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


NOT_FOUND = ErrorReply(error="Chat session not found.", status=404)


def _not_caught_up() -> ErrorReply:
    return ErrorReply(
        error="Your latest change is still being saved. Retry in a moment.",
        status=503,
        retry_after=1,
    )
