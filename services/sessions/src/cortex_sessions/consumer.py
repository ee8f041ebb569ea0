"""The live projection: a durable pull consumer shared by every replica of this service.

nats-py directly rather than a FastStream subscriber: the projection needs each message's stream
sequence and delivery count, and acks, delayed naks and terms of its own choosing.
"""

import asyncio
import logging
from contextlib import aclosing

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BadRequestError, NotFoundError
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from cortex_contracts.events.chat import AnyChatEvent, parse_chat_event
from cortex_contracts.topology import Topology
from cortex_sessions.fold import SessionKey, Unreadable, session_key
from cortex_sessions.metrics import EVENTS_APPLIED
from cortex_sessions.projector import Outcome, Projector
from cortex_sessions.pull import pull_messages
from cortex_sessions.settings import Settings

log = logging.getLogger(__name__)

# An early event's predecessor is usually being applied by another replica right now.
EARLY_PATIENCE_SEC = (0.002, 0.005, 0.01, 0.02)
MAX_REDELIVERY_DELAY_SEC = 2.0


def redelivery_delay(deliveries: int) -> float:
    return float(min(MAX_REDELIVERY_DELAY_SEC, 0.05 * 2 ** min(deliveries, 8)))


def read_event(data: bytes) -> AnyChatEvent | Unreadable:
    try:
        return parse_chat_event(data)
    except ValidationError as error:
        return Unreadable(f"not a chat event: {error.errors()[0]['msg']}"[:300])


class ChatEventConsumer:
    def __init__(self, engine: AsyncEngine, js: JetStreamContext, settings: Settings) -> None:
        self.engine = engine
        self.js = js
        self.settings = settings
        self.topology: Topology = settings.topology
        self.projector = Projector()

    async def handle(self, msg: Msg) -> Outcome:
        seq = msg.metadata.sequence.stream
        deliveries = msg.metadata.num_delivered
        key = session_key(msg.subject)
        if key is None:  # nothing to keep a position for: park it and move on
            await self.dead_letter(msg, "the subject does not name a chat session")
            await msg.term()
            return self._count(Outcome.REJECTED)
        event = read_event(msg.data)
        give_up: str | None = None
        patience = iter(EARLY_PATIENCE_SEC)
        while True:
            try:
                outcome = await self._apply(msg, seq, key, event, give_up)
            except (OperationalError, InterfaceError):  # the database is away: never give up
                log.warning("database unavailable while applying chat event seq=%s", seq)
                await msg.nak(delay=redelivery_delay(deliveries))
                return self._count(Outcome.EARLY)
            except Exception as error:  # this event breaks something: retry, then park it
                log.exception("applying chat event seq=%s failed", seq)
                if give_up is not None or deliveries < self.settings.max_deliveries:
                    await msg.nak(delay=redelivery_delay(deliveries))
                    return self._count(Outcome.EARLY)
                give_up = f"applying it failed {deliveries} times: {error!r}"[:300]
                continue
            delay = next(patience, None) if outcome is Outcome.EARLY else None
            if delay is None:
                break
            await asyncio.sleep(delay)
        if outcome is Outcome.EARLY:
            await msg.nak(delay=redelivery_delay(deliveries))
        elif outcome is Outcome.REJECTED:
            await msg.term()
        else:
            await msg.ack()
        return self._count(outcome)

    async def _apply(
        self,
        msg: Msg,
        seq: int,
        key: SessionKey,
        event: AnyChatEvent | Unreadable,
        give_up: str | None,
    ) -> Outcome:
        async def dead_letter(reason: str) -> None:
            await self.dead_letter(msg, reason)

        async with self.engine.begin() as conn:
            return await self.projector.apply(
                conn,
                seq,
                key,
                event,
                in_turn=lambda after, seq: self.next_on_subject_is(msg.subject, after, seq),
                dead_letter=dead_letter,
                give_up=give_up,
            )

    async def next_on_subject_is(self, subject: str, after: int, seq: int) -> bool:
        try:
            found = await self.js.get_msg(
                self.topology.chat_stream, seq=after + 1, subject=subject, next=True, direct=True
            )
        except NotFoundError:
            return False
        return found.seq == seq

    async def dead_letter(self, msg: Msg, reason: str) -> None:
        """Park the event on the dead-letter subject; its msg id makes a repeat a no-op."""
        seq = msg.metadata.sequence.stream
        log.error("dead-lettering chat event seq=%s subject=%s: %s", seq, msg.subject, reason)
        await self.js.publish(
            self.topology.dead_letter_subject(self.topology.sessions_consumer),
            msg.data,
            headers={
                "Nats-Msg-Id": f"{self.topology.chat_stream}-{seq}",
                "Cortex-Reason": reason[:500],
                "Cortex-Stream": self.topology.chat_stream,
                "Cortex-Stream-Seq": str(seq),
                "Cortex-Subject": msg.subject,
            },
            stream=self.topology.dead_letter_stream,
        )

    @staticmethod
    def _count(outcome: Outcome) -> Outcome:
        EVENTS_APPLIED.labels(outcome.value).inc()
        return outcome


async def ensure_consumer(js: JetStreamContext, settings: Settings) -> None:
    """The durable consumer every replica pulls from (created by the first one to start)."""
    topology = settings.topology
    try:
        await js.consumer_info(topology.chat_stream, topology.sessions_consumer)
        return
    except NotFoundError:
        pass
    try:
        await js.add_consumer(
            topology.chat_stream,
            ConsumerConfig(
                durable_name=topology.sessions_consumer,
                filter_subject=topology.chat_all_subjects,
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=settings.ack_wait_sec,
                max_ack_pending=10_000,
            ),
        )
    except BadRequestError:
        log.debug("consumer %s created by another replica", topology.sessions_consumer)


async def run(consumer: ChatEventConsumer, nats: NatsClient, stopping: asyncio.Event) -> None:
    """Apply events as they arrive until `stopping` is set."""
    topology = consumer.topology
    while not stopping.is_set():
        try:
            await ensure_consumer(consumer.js, consumer.settings)
            messages = pull_messages(
                nats,
                topology.chat_stream,
                topology.sessions_consumer,
                consumer.settings.fetch_batch,
            )
            async with aclosing(messages):
                async for msg in messages:
                    try:
                        await consumer.handle(msg)
                    except Exception:  # e.g. NATS away while acking: it will be redelivered
                        log.exception("handling chat event %s failed", msg.subject)
                    if stopping.is_set():
                        return
        except Exception:  # connection trouble: nats-py reconnects, we wait and pull again
            log.exception("pulling chat events failed")
            await asyncio.sleep(1)
