"""The recorder: the batch handler of the durable consumer every replica shares (pulled by
`cortex_runtime.consumer`, the next batch while others are being stored).

Each batch is inserted in one transaction (rows and position together) and acknowledged after
the commit. A crash before the acks means a redelivery, which the event-id key makes a no-op; an
event that can never be stored is parked (dead-lettered) instead of stalling the others.
"""

import logging
from typing import Any

from nats.aio.msg import Msg
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from cortex_runtime.consumer import DurableConsumer
from cortex_runtime.parking import FAILING, OVERSIZED, Parking, oversized
from cortex_runtime.pull import deliveries, stream_sequence
from cortex_usage.metrics import BATCH_SIZE, EVENTS
from cortex_usage.recorder import UnreadableEvent, UsageStore, read_row
from cortex_usage.settings import Settings
from cortex_usage.tables import rollups, usage_position, usage_records

log = logging.getLogger(__name__)

REDELIVERY_DELAY_SEC = 1.0
FILL_SEC = 0.1  # a batch waits this long to fill up: fewer, larger transactions
MAX_ACK_PENDING = 20_000


def durable_consumer(settings: Settings) -> DurableConsumer:
    topology = settings.topology
    return DurableConsumer(
        stream=topology.usage_stream,
        name=topology.usage_consumer,
        filter_subject=topology.usage_all_subjects,
        ack_wait_sec=settings.ack_wait_sec,
        max_ack_pending=MAX_ACK_PENDING,
        batch=settings.fetch_batch,
        batches_in_flight=settings.batches_in_flight,
        fill_sec=FILL_SEC,
    )


def _database_unreachable(error: Exception) -> bool:
    """A connection problem affects every event alike: retry later, never dead-letter."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, OperationalError | InterfaceError | OSError)


class UsageConsumer:
    def __init__(self, engine: AsyncEngine, settings: Settings, parking: Parking) -> None:
        self.engine = engine
        self.settings = settings
        self.parking = parking
        self.store = UsageStore(
            usage_records, usage_position, rollups.dirty_hours, settings.topology.usage_consumer
        )

    async def handle_batch(self, batch: list[Msg]) -> None:
        readable: list[tuple[Msg, dict[str, Any]]] = []
        for msg in batch:
            too_big = oversized(msg, self.settings.max_event_bytes)
            if too_big:
                await self.dead_letter(msg, too_big, OVERSIZED)
                continue
            try:
                row = read_row(msg.data, stream_sequence(msg))
            except UnreadableEvent as error:
                await self.dead_letter(msg, f"unreadable event: {error}", error.kind)
                continue
            readable.append((msg, row))
        if not readable:
            return
        BATCH_SIZE.observe(len(readable))
        try:
            async with self.engine.begin() as conn:
                new_rows = await self.store.insert(conn, [row for _, row in readable])
        except Exception as error:
            if _database_unreachable(error):
                log.warning("database unreachable, %d events will be retried", len(readable))
                for msg, _ in readable:
                    await msg.nak(delay=REDELIVERY_DELAY_SEC)
                return
            log.exception("storing a batch failed: storing its events one by one")
            await self._one_by_one(readable)
            return
        EVENTS.labels("recorded").inc(new_rows)
        EVENTS.labels("duplicate").inc(len(readable) - new_rows)
        for msg, _ in readable:  # a plain loop: each ack only fills the client's write buffer
            await msg.ack()

    async def _one_by_one(self, readable: list[tuple[Msg, dict[str, Any]]]) -> None:
        """Finds the event the database rejects, so that only it is retried or dead-lettered."""
        for msg, row in readable:
            try:
                async with self.engine.begin() as conn:
                    new_rows = await self.store.insert(conn, [row])
            except Exception as error:
                if _database_unreachable(error) or deliveries(msg) < self.settings.max_deliveries:
                    await msg.nak(delay=REDELIVERY_DELAY_SEC)
                else:
                    await self.dead_letter(msg, f"the database rejects it: {error!r}", FAILING)
                continue
            EVENTS.labels("recorded" if new_rows else "duplicate").inc()
            await msg.ack()

    async def dead_letter(self, msg: Msg, reason: str, kind: str) -> None:
        try:
            await self.parking.park(msg, reason, kind)
        except Exception:  # keep the event: it will come back and be dead-lettered then
            log.exception("dead-lettering seq=%s failed", stream_sequence(msg))
            await msg.nak(delay=REDELIVERY_DELAY_SEC)
            return
        EVENTS.labels("dead_lettered").inc()
        await msg.term()
