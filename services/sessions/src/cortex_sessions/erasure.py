"""Erasure of chats (docs/audit.md, "Erasure and retention"): the consumer of `ChatsErased`
events, and the guard that keeps the live projection and a rebuild from writing erased chats back.

For each event, in this order (every step idempotent, so a redelivery after a crash at any point
finishes the job):

1. one transaction: record the erasure in `chat_erasures` (ids only) and delete the chats' rows,
   messages and tombstones. It holds `chat_erasures` in EXCLUSIVE mode, and every batch of the
   live projection takes ROW SHARE first and then reads the erasures: a batch either committed
   before (its rows are deleted here) or sees the erasure and skips the chat's events. So once
   this commits, no replica writes the chats again, nor dead-letters one of their events;
2. purge the chat subjects, their chain heads and their dead-letter copies
   (`cortex_runtime.erasure`).

A rebuild never sees purged events; a rebuild that read them before the purge drops the erased
chats from its fresh tables before swapping them in (`drop_erased`).
"""

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from psycopg import AsyncConnection as PgConnection
from psycopg import sql
from pydantic import ValidationError
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    Uuid,
    delete,
    insert,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cortex_contracts.events.erasure import ChatsErased, ErasedChats
from cortex_contracts.topology import Topology
from cortex_runtime.consumer import DurableConsumer
from cortex_runtime.erasure import erase_subjects
from cortex_runtime.parking import Parking, unreadable_kind
from cortex_sessions.compare_tables import comparison_panes, comparison_votes, comparisons
from cortex_sessions.projector import Pending
from cortex_sessions.settings import Settings
from cortex_sessions.tables import chat_session_tombstones, chat_sessions, metadata

log = logging.getLogger(__name__)

RETRY_SEC = 2.0
ERASURE_ACK_WAIT_SEC = 120.0  # a purge and a dead-letter scan may take a while


def erasure_table(meta: MetaData) -> Table:
    """One row per erasure: a whole user (`session_id` NULL) or one chat. Ids only."""
    return Table(
        "chat_erasures",
        meta,
        Column("user_id", String(36), nullable=False),
        Column("session_id", Uuid),
        Column("erased_at", DateTime(timezone=True), nullable=False),
        Index("ix_chat_erasures_user", "user_id"),
    )


chat_erasures = erasure_table(metadata)


def durable_consumer(settings: Settings) -> DurableConsumer:
    topology = settings.topology
    return DurableConsumer(
        stream=topology.erasure_stream,
        name=topology.erasure_consumer,
        filter_subject=topology.erasure_all_subjects,
        ack_wait_sec=ERASURE_ACK_WAIT_SEC,
        max_ack_pending=16,
        batch=1,
    )


def chat_filters(topology: Topology, chats: ErasedChats) -> list[str]:
    """The chat subjects an erasure names."""
    if chats.session_ids is None:
        return [
            topology.chat_user_subjects(chats.user_id),
            *topology.chat_stray_subjects_of(chats.user_id),
        ]
    return [
        subject
        for session in map(str, chats.session_ids)
        for subject in [
            topology.chat_subject(chats.user_id, session),
            *topology.chat_stray_subjects_of(chats.user_id, session),
        ]
    ]


def inspector_filters(topology: Topology, chats: ErasedChats) -> list[str]:
    """The inspector's checks kept with the chats, and a whole account's presets (shared or not):
    they hold prompts, schemas and tools the user wrote."""
    if chats.session_ids is None:
        return [
            topology.user_presets(chats.user_id),
            topology.chat_inspector_subject(chats.user_id, "*"),
        ]
    return [topology.chat_inspector_subject(chats.user_id, str(s)) for s in chats.session_ids]


class ErasureConsumer:
    def __init__(
        self, engine: AsyncEngine, js: JetStreamContext, topology: Topology, parking: Parking
    ) -> None:
        self.engine = engine
        self.js = js
        self.topology = topology
        self.parking = parking

    async def handle(self, batch: list[Msg]) -> None:
        for msg in batch:
            try:
                event = ChatsErased.model_validate_json(msg.data)
            except ValidationError as error:
                await self.parking.park(msg, "not an erasure event", unreadable_kind(error))
                await msg.term()
                continue
            try:
                await self.erase(event)
            except Exception:
                log.exception("erasure %s failed; it is retried", event.event_id)
                await msg.nak(delay=RETRY_SEC)
                continue
            await msg.ack()

    async def erase(self, event: ChatsErased) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text(f"LOCK TABLE {chat_erasures.name} IN EXCLUSIVE MODE"))
            for chats in event.chats:
                await _record_and_delete(conn, chats)
        filters = [f for chats in event.chats for f in chat_filters(self.topology, chats)]
        await erase_subjects(
            self.js, self.topology, stream=self.topology.chat_stream, filters=filters
        )
        await erase_subjects(
            self.js,
            self.topology,
            stream=self.topology.inspect_stream,
            filters=[f for chats in event.chats for f in inspector_filters(self.topology, chats)],
        )
        accounts = [chats.user_id for chats in event.chats if chats.session_ids is None]
        if accounts:  # a whole account: its comparisons' events hold its prompts too
            await erase_subjects(
                self.js,
                self.topology,
                stream=self.topology.compare_stream,
                filters=[self.topology.compare_user_subjects(user) for user in accounts],
            )
        log.info("erased %s (%s): %s filters", event.event_id, event.reason, len(filters))


async def _record_and_delete(conn: AsyncConnection, chats: ErasedChats) -> None:
    ids = [None] if chats.session_ids is None else chats.session_ids
    recorded = await conn.execute(
        select(chat_erasures.c.session_id).where(chat_erasures.c.user_id == chats.user_id)
    )
    known = {row.session_id for row in recorded}
    now = datetime.now(UTC)
    new = [{"user_id": chats.user_id, "session_id": i, "erased_at": now} for i in ids]
    new = [row for row in new if row["session_id"] not in known]
    if new:
        await conn.execute(insert(chat_erasures), new)
    sessions = chat_sessions.c.user_id == chats.user_id
    tombstones = chat_session_tombstones.c.user_id == chats.user_id
    if chats.session_ids is not None:
        sessions &= chat_sessions.c.id.in_(chats.session_ids)
        tombstones &= chat_session_tombstones.c.session_id.in_(chats.session_ids)
    await conn.execute(delete(chat_sessions).where(sessions))  # messages go with them (CASCADE)
    await conn.execute(delete(chat_session_tombstones).where(tombstones))
    if chats.session_ids is None:
        owned = select(comparisons.c.id).where(comparisons.c.user_id == chats.user_id)
        await conn.execute(
            delete(comparison_votes).where(comparison_votes.c.user_id == chats.user_id)
        )
        await conn.execute(
            delete(comparison_panes).where(comparison_panes.c.comparison_id.in_(owned))
        )
        await conn.execute(delete(comparisons).where(comparisons.c.user_id == chats.user_id))


async def split_erased(
    conn: AsyncConnection, pending: Sequence[Pending]
) -> tuple[list[Pending], list[Pending]]:
    """(events to apply, events of erased chats): the live projection's hook, first thing in its
    transaction. The lock waits for an erasure being committed (see the module)."""
    if not pending:
        return [], []
    await conn.execute(text(f"LOCK TABLE {chat_erasures.name} IN ROW SHARE MODE"))
    users = sorted({p.key.user_id for p in pending})
    rows = await conn.execute(
        select(chat_erasures.c.user_id, chat_erasures.c.session_id).where(
            chat_erasures.c.user_id.in_(users)
        )
    )
    erased: set[tuple[str, Any]] = {(row.user_id, row.session_id) for row in rows}
    if not erased:
        return list(pending), []
    live: list[Pending] = []
    gone: list[Pending] = []
    for one in pending:
        user = one.key.user_id
        is_gone = (user, None) in erased or (user, one.key.session_id) in erased
        (gone if is_gone else live).append(one)
    return live, gone


async def drop_erased(conn: PgConnection[Any], fresh: Sequence[Table]) -> None:
    """The rebuild's hook, inside its swap transaction: erased chats leave the fresh tables."""
    sessions, _, tombstones = fresh
    erased = sql.Identifier(chat_erasures.name)
    for table, id_column in ((sessions, "id"), (tombstones, "session_id")):
        await conn.execute(
            sql.SQL(
                "DELETE FROM {table} t USING {erased} e WHERE t.user_id = e.user_id"
                " AND (e.session_id IS NULL OR e.session_id = t.{id})"
            ).format(table=sql.Identifier(table.name), erased=erased, id=sql.Identifier(id_column))
        )
