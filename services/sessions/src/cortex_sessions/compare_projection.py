"""The comparisons projection: the batch handler of its own durable consumer (compare stream).

Comparison events are few (a creation, a turn, a vote), so each is applied in a transaction of
its own, in its comparison's order: an event whose predecessor is not applied yet (another
replica has it) is retried shortly; a redelivered one finds its position passed and is acked.
"""

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from nats.aio.msg import Msg
from pydantic import ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cortex_contracts.events.compare import (
    AnyComparisonEvent,
    ComparisonCreated,
    ComparisonDeleted,
    TurnAdded,
    VoteCast,
    parse_comparison_event,
)
from cortex_runtime.consumer import DurableConsumer
from cortex_runtime.parking import FAILING, OVERSIZED, Parking, oversized, unreadable_kind
from cortex_runtime.pull import deliveries, stream_sequence
from cortex_sessions.compare_tables import comparison_panes, comparison_votes, comparisons
from cortex_sessions.settings import Settings

log = logging.getLogger(__name__)

EARLY_RETRY_SEC = 0.2
FAILED_RETRY_SEC = 1.0
MAX_ACK_PENDING = 1000


def comparisons_consumer(settings: Settings) -> DurableConsumer:
    topology = settings.topology
    return DurableConsumer(
        stream=topology.compare_stream,
        name=topology.comparisons_consumer,
        filter_subject=topology.compare_all_subjects,
        ack_wait_sec=settings.ack_wait_sec,
        max_ack_pending=MAX_ACK_PENDING,
        batch=settings.fetch_batch,
    )


class Early(Exception):
    """The comparison's previous event is not applied yet."""


@dataclass
class ComparisonProjection:
    engine: AsyncEngine
    settings: Settings
    parking: Parking

    async def handle(self, batch: list[Msg]) -> None:
        for msg in batch:
            await self._one(msg)

    async def _one(self, msg: Msg) -> None:
        problem = oversized(msg, self.settings.max_event_bytes)
        if problem:
            await self._park(msg, problem, OVERSIZED)
            return
        try:
            event = parse_comparison_event(msg.data)
        except ValidationError as error:
            await self._park(msg, f"not a comparison event: {error.errors()[0]['msg']}"[:300],
                             unreadable_kind(error))  # fmt: skip
            return
        owner = msg.subject.split(".")[-2] if msg.subject.count(".") >= 2 else ""
        try:
            async with self.engine.begin() as conn:
                await apply(conn, event, stream_sequence(msg), owner)
        except Early:
            await msg.nak(delay=EARLY_RETRY_SEC)
            return
        except (OperationalError, InterfaceError, OSError):
            await msg.nak(delay=FAILED_RETRY_SEC)
            return
        except DBAPIError as error:
            if error.connection_invalidated or deliveries(msg) < self.settings.max_deliveries:
                await msg.nak(delay=FAILED_RETRY_SEC)
            else:
                await self._park(msg, f"the database rejects it: {error!r}", FAILING)
            return
        await msg.ack()

    async def _park(self, msg: Msg, reason: str, kind: str) -> None:
        try:
            await self.parking.park(msg, reason, kind)
        except Exception:
            log.exception("dead-lettering comparison event seq=%s failed", stream_sequence(msg))
            await msg.nak(delay=FAILED_RETRY_SEC)
            return
        await msg.term()


async def apply(conn: AsyncConnection, event: AnyComparisonEvent, seq: int, owner: str) -> None:
    """Apply one event at stream position `seq` (a no-op when it was applied before)."""
    comparison_id = uuid.UUID(event.aggregate_id)
    if isinstance(event, ComparisonCreated):
        await _create(conn, event, comparison_id, seq, owner)
        return
    row = (
        await conn.execute(
            select(comparisons.c.last_seq, comparisons.c.deleted)
            .where(comparisons.c.id == comparison_id)
            .with_for_update()
        )
    ).first()
    if row is None or row.last_seq < event.previous_seq:
        raise Early
    if row.last_seq >= seq:
        return  # redelivered
    changes: dict[str, Any] = {"last_seq": seq}
    if not row.deleted:
        changes["updated_at"] = event.occurred_at
    if isinstance(event, TurnAdded):
        changes["turn_count"] = event.turn
    elif isinstance(event, VoteCast) and not row.deleted:
        await _vote(conn, event, comparison_id, seq, owner)
        changes["vote_count"] = await _vote_count(conn, comparison_id)
    elif isinstance(event, ComparisonDeleted):
        changes.update(deleted=True, vote_count=0)
        await conn.execute(
            delete(comparison_votes).where(comparison_votes.c.comparison_id == comparison_id)
        )
    await conn.execute(
        update(comparisons).where(comparisons.c.id == comparison_id).values(**changes)
    )


async def _create(
    conn: AsyncConnection, event: ComparisonCreated, comparison_id: uuid.UUID, seq: int, owner: str
) -> None:
    await conn.execute(
        insert(comparisons)
        .values(
            id=comparison_id,
            user_id=owner,
            title=event.title,
            blind=event.blind,
            models=[pane.model_name for pane in event.panes],
            turn_count=0,
            vote_count=0,
            deleted=False,
            created_at=event.occurred_at,
            updated_at=event.occurred_at,
            last_seq=seq,
        )
        .on_conflict_do_nothing()
    )
    await conn.execute(
        insert(comparison_panes)
        .values(
            [
                {"session_id": uuid.UUID(pane.session_id), "comparison_id": comparison_id}
                for pane in event.panes
            ]
        )
        .on_conflict_do_nothing()
    )


async def _vote(
    conn: AsyncConnection, event: VoteCast, comparison_id: uuid.UUID, seq: int, owner: str
) -> None:
    values = {
        "comparison_id": comparison_id,
        "turn": event.turn,
        "user_id": owner,
        "models": event.models,
        "choice": event.choice,
        "pane": event.pane,
        "blind": event.blind,
        "seq": seq,
    }
    statement = insert(comparison_votes).values(values)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["comparison_id", "turn"],
            set_={key: statement.excluded[key] for key in ("choice", "pane", "blind", "seq")},
        )
    )


async def _vote_count(conn: AsyncConnection, comparison_id: uuid.UUID) -> int:
    rows = await conn.execute(
        select(comparison_votes.c.turn).where(comparison_votes.c.comparison_id == comparison_id)
    )
    return len(rows.all())
