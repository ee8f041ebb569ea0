"""The durable consumer every replica of a service shares: created race-free, pulled continuously,
its batches handed to the service's handler, some of them in flight at once, across reconnects.

The service keeps its own transaction and position model: its handler receives the messages and
acks, naks or terms each one (after parking it, `parking.Parking`). A batch whose handler fails is
left unacknowledged: JetStream delivers it again after `ack_wait_sec`.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BadRequestError, NotFoundError

from cortex_runtime.pull import PullFeed

log = logging.getLogger(__name__)

BatchHandler = Callable[[list[Msg]], Awaitable[object]]
RETRY_SEC = 1.0
STOP_CHECK_SEC = 1.0


@dataclass(frozen=True)
class DurableConsumer:
    stream: str
    name: str
    filter_subject: str
    ack_wait_sec: float
    max_ack_pending: int
    batch: int
    batches_in_flight: int = 1  # > 1: the next batch is pulled while others are being stored
    fill_sec: float = 0.0  # wait this long for a whole batch (bulk writers), 0: hand out at once

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(
            name=self.name,
            durable_name=self.name,
            filter_subject=self.filter_subject,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait_sec,
            max_ack_pending=self.max_ack_pending,
        )


async def ensure_durable(js: JetStreamContext, consumer: DurableConsumer) -> None:
    """Every replica asks for the same consumer: the first creates it, the others find it (also
    when they race: the loser's create fails, and it finds the winner's). One found with another
    filter (the subject layout changed) gets this one: its position is kept."""
    try:
        found = await js.consumer_info(consumer.stream, consumer.name)
    except NotFoundError:
        pass
    else:
        if found.config.filter_subject != consumer.filter_subject:
            await js.add_consumer(consumer.stream, consumer.config())  # creates or updates
        return
    try:
        await js.add_consumer(consumer.stream, consumer.config())
    except BadRequestError:
        await js.consumer_info(consumer.stream, consumer.name)  # raises if it really failed
        log.debug("consumer %s created by another replica", consumer.name)


async def consume(
    nats: NatsClient,
    consumer: DurableConsumer,
    handle: BatchHandler,
    stopping: asyncio.Event,
    *,
    wake_after: Callable[[], float | None] = lambda: None,
    release: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Hand batches to `handle` until `stopping` is set.

    `wake_after()`: when it returns a delay, `handle` is also called with an empty batch once
    nothing arrived for that long (a service retrying events it holds back).
    `release()`: called once pulling ended, to hand back (nak) what the handler still holds, so
    the consumer's next puller (another replica) gets it at once rather than after the ack wait.
    """
    js = nats.jetstream()
    while not stopping.is_set():
        try:
            await ensure_durable(js, consumer)
            feed = PullFeed(nats, consumer.stream, consumer.name, consumer.batch)
            await feed.start()
            try:
                await _pull(feed, consumer, handle, stopping, wake_after)
            finally:
                await feed.stop()
                if release is not None and stopping.is_set():
                    await release()
        except Exception:  # connection trouble: nats-py reconnects, we wait and pull again
            if stopping.is_set():
                return
            log.exception("pulling from %s failed; retrying", consumer.name)
            await asyncio.sleep(RETRY_SEC)


async def _pull(
    feed: PullFeed,
    consumer: DurableConsumer,
    handle: BatchHandler,
    stopping: asyncio.Event,
    wake_after: Callable[[], float | None],
) -> None:
    slots = asyncio.Semaphore(consumer.batches_in_flight)
    in_flight: set[asyncio.Task[None]] = set()

    async def handle_one(batch: list[Msg]) -> None:
        try:
            await handle(batch)
        except Exception:  # e.g. NATS away while acking: redelivered after the ack wait
            log.exception("handling %s events from %s failed", len(batch), consumer.name)
        finally:
            slots.release()

    try:
        while not stopping.is_set():
            await slots.acquire()
            wake = wake_after()
            try:
                batch = await feed.take(
                    min(wake, STOP_CHECK_SEC) if wake is not None else STOP_CHECK_SEC,
                    consumer.fill_sec,
                )
            except BaseException:
                slots.release()
                raise
            if not batch and wake is None:
                slots.release()
                continue
            if consumer.batches_in_flight == 1:
                await handle_one(batch)  # in order, nothing to track
                continue
            task = asyncio.create_task(handle_one(batch))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
    finally:
        await asyncio.gather(*in_flight, return_exceptions=True)
