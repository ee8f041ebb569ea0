"""The recorder: a durable pull consumer shared by every replica of this service.

Each fetched batch is inserted in one transaction (rows and position together) and acknowledged
after the commit. A crash before the acks means a redelivery, which the event-id key makes a
no-op; an event that can never be stored is dead-lettered instead of stalling the others.
"""

import asyncio
import logging
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from cortex_usage.metrics import BATCH_SIZE, EVENTS
from cortex_usage.pull import BatchPuller, stream_sequence
from cortex_usage.recorder import UnreadableEvent, UsageStore, read_row
from cortex_usage.settings import Settings
from cortex_usage.tables import rollups, usage_position, usage_records

log = logging.getLogger(__name__)

REDELIVERY_DELAY_SEC = 1.0
FETCH_WAIT_SEC = 1.0


def _database_unreachable(error: Exception) -> bool:
    """A connection problem affects every event alike: retry later, never dead-letter."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, OperationalError | InterfaceError | OSError)


class UsageConsumer:
    def __init__(self, engine: AsyncEngine, nc: NatsClient, settings: Settings) -> None:
        self.engine = engine
        self.nc = nc
        self.js = nc.jetstream()
        self.settings = settings
        self.topology = settings.topology
        self.store = UsageStore(
            usage_records, usage_position, rollups.dirty_hours, self.topology.usage_consumer
        )

    async def handle_batch(self, batch: list[Msg]) -> None:
        readable: list[tuple[Msg, dict[str, Any]]] = []
        for msg in batch:
            try:
                row = read_row(msg.data, stream_sequence(msg))
            except UnreadableEvent as error:
                await self.dead_letter(msg, f"unreadable event: {error}")
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
                if _database_unreachable(error) or (
                    msg.metadata.num_delivered < self.settings.max_deliveries
                ):
                    await msg.nak(delay=REDELIVERY_DELAY_SEC)
                else:
                    await self.dead_letter(msg, f"the database rejects it: {error!r}")
                continue
            EVENTS.labels("recorded" if new_rows else "duplicate").inc()
            await msg.ack()

    async def dead_letter(self, msg: Msg, reason: str) -> None:
        seq = msg.metadata.sequence.stream
        log.error("dead-lettering usage event seq=%s subject=%s: %s", seq, msg.subject, reason)
        consumer = self.topology.usage_consumer
        try:
            await self.js.publish(
                self.topology.dead_letter_subject(consumer),
                msg.data,
                stream=self.topology.dead_letter_stream,
                headers={
                    "Nats-Msg-Id": f"{consumer}:{seq}",
                    "Cortex-Reason": reason[:500],
                    "Cortex-Stream-Seq": str(seq),
                    "Cortex-Subject": msg.subject,
                },
            )
        except Exception:  # keep the event: it will come back and be dead-lettered then
            log.exception("dead-lettering seq=%s failed", seq)
            await msg.nak(delay=REDELIVERY_DELAY_SEC)
            return
        EVENTS.labels("dead_lettered").inc()
        await msg.term()


async def run(consumer: UsageConsumer, stopping: asyncio.Event) -> None:
    """Pull batches from the durable consumer until `stopping` is set.

    nats-py rather than a FastStream subscriber: batches, each message's stream sequence and
    delivery count, and acks, delayed naks and terms of our choosing.
    """
    while not stopping.is_set():
        try:
            await _ensure_durable(consumer)
            break
        except Exception:  # NATS not reachable yet or the stream is being created
            log.exception("creating the usage consumer failed; retrying")
            await asyncio.sleep(1)
    topology = consumer.topology
    puller = BatchPuller(consumer.nc, topology.usage_stream, topology.usage_consumer)
    await puller.start()
    try:
        await _pull_until_stopped(consumer, puller, stopping)
    finally:
        await puller.stop()


async def _pull_until_stopped(
    consumer: UsageConsumer, puller: BatchPuller, stopping: asyncio.Event
) -> None:
    """Fetching the next batch overlaps with storing the previous ones (up to a bound)."""
    settings = consumer.settings
    slots = asyncio.Semaphore(settings.batches_in_flight)
    in_flight: set[asyncio.Task[None]] = set()

    async def store(batch: list[Msg]) -> None:
        try:
            await consumer.handle_batch(batch)
        except Exception:  # unacknowledged events come back after the ack wait
            log.exception("handling a batch of %d usage events failed", len(batch))
        finally:
            slots.release()

    try:
        while not stopping.is_set():
            await slots.acquire()
            try:
                batch = await puller.fetch(settings.fetch_batch, FETCH_WAIT_SEC)
            except Exception:  # connection trouble: nats-py reconnects, we wait and pull again
                slots.release()
                log.exception("fetching usage events failed")
                await asyncio.sleep(1)
                continue
            if not batch:
                slots.release()
                continue
            task = asyncio.create_task(store(batch))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
    finally:
        await asyncio.gather(*in_flight, return_exceptions=True)


async def _ensure_durable(consumer: UsageConsumer) -> None:
    """Every replica asks for the same consumer: the first creates it, the others find it."""
    settings = consumer.settings
    topology = consumer.topology
    try:
        await consumer.js.consumer_info(topology.usage_stream, topology.usage_consumer)
    except NotFoundError:
        await consumer.js.add_consumer(
            topology.usage_stream,
            ConsumerConfig(
                name=topology.usage_consumer,
                durable_name=topology.usage_consumer,
                filter_subject=topology.usage_all_subjects,
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=settings.ack_wait_sec,
                max_ack_pending=20_000,
            ),
        )
