"""The live projection: a durable pull consumer shared by every replica of this service."""

import asyncio
import logging

from faststream.nats import NatsBroker
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from cortex_contracts.events.chat import parse_chat_event
from cortex_sessions.metrics import EVENTS_APPLIED
from cortex_sessions.projector import Outcome, Projector
from cortex_sessions.settings import Settings

log = logging.getLogger(__name__)

EARLY_RETRY_DELAYS = (0.002, 0.005, 0.01, 0.02, 0.05)  # the predecessor is usually in flight
REDELIVERY_DELAY_SEC = 0.2


class ChatEventConsumer:
    def __init__(self, engine: AsyncEngine, broker: NatsBroker, settings: Settings) -> None:
        self.engine = engine
        self.broker = broker
        self.settings = settings
        self.projector = Projector()

    async def handle(self, msg: Msg) -> None:
        seq = msg.metadata.sequence.stream
        try:
            event = parse_chat_event(msg.data)
        except ValidationError as error:
            await self.dead_letter(msg, f"unreadable event: {error}")
            return
        try:
            outcome = await self._apply_with_patience(seq, event)
        except Exception as error:  # a bug or a database problem: retry, then dead-letter
            log.exception("applying event seq=%s failed", seq)
            if msg.metadata.num_delivered >= self.settings.max_deliveries:
                await self.dead_letter(msg, f"apply failed: {error!r}")
            else:
                await msg.nak(delay=REDELIVERY_DELAY_SEC)
            return
        if outcome is Outcome.EARLY:
            if msg.metadata.num_delivered >= self.settings.max_deliveries:
                await self.dead_letter(msg, "its predecessor in the session never arrived")
            else:
                await msg.nak(delay=REDELIVERY_DELAY_SEC)
            return
        EVENTS_APPLIED.labels(outcome.value).inc()
        await msg.ack()

    async def _apply_with_patience(self, seq: int, event: object) -> Outcome:
        for delay in (*EARLY_RETRY_DELAYS, None):
            async with self.engine.begin() as conn:
                outcome = await self.projector.apply(conn, seq, event)  # type: ignore[arg-type]
            if outcome is not Outcome.EARLY or delay is None:
                return outcome
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def dead_letter(self, msg: Msg, reason: str) -> None:
        seq = msg.metadata.sequence.stream
        log.error("dead-lettering chat event seq=%s subject=%s: %s", seq, msg.subject, reason)
        topology = self.settings.topology
        await self.broker.publish(
            msg.data,
            subject=topology.dead_letter_subject(topology.sessions_consumer),
            headers={
                "Cortex-Reason": reason[:500],
                "Cortex-Stream-Seq": str(seq),
                "Cortex-Subject": msg.subject,
            },
            stream=topology.dead_letter_stream,
        )
        EVENTS_APPLIED.labels("dead_lettered").inc()
        await msg.term()


async def run(consumer: ChatEventConsumer, js: JetStreamContext, stopping: asyncio.Event) -> None:
    """Pull batches from the durable consumer until `stopping` is set.

    nats-py directly rather than a FastStream subscriber: the projection needs each message's
    stream sequence and delivery count, and acks, delayed naks and terms of its own choosing.
    """
    topology = consumer.settings.topology
    subscription = await js.pull_subscribe(
        topology.chat_all_subjects,
        durable=topology.sessions_consumer,
        stream=topology.chat_stream,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=30,
            max_ack_pending=10_000,
        ),
    )
    while not stopping.is_set():
        try:
            batch = await subscription.fetch(consumer.settings.fetch_batch, timeout=1.0)
        except NatsTimeoutError:
            continue
        except Exception:  # connection trouble: nats-py reconnects, we wait and pull again
            log.exception("fetching chat events failed")
            await asyncio.sleep(1)
            continue
        for msg in batch:
            await consumer.handle(msg)
