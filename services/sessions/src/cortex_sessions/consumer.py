"""The live projection: a durable pull consumer shared by every replica of this service.

nats-py directly rather than a FastStream subscriber: the projection needs each message's stream
sequence and delivery count, and acks, delayed naks and terms of its own choosing.
"""

import asyncio
import logging
from dataclasses import replace

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
from cortex_sessions.fold import Unreadable, session_key
from cortex_sessions.metrics import EVENTS_APPLIED
from cortex_sessions.projector import CreatedConcurrently, Outcome, Pending, Projector
from cortex_sessions.pull import PullFeed
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

    async def handle(self, batch: list[Msg]) -> list[Outcome]:
        """Apply, then acknowledge (or retry later, or park) every message of the batch."""
        messages: dict[int, Msg] = {}
        pending: list[Pending] = []
        parked: list[Outcome] = []
        for msg in batch:
            seq = msg.metadata.sequence.stream
            key = session_key(msg.subject)
            if key is None:  # nothing to keep a position for: park it and move on
                await self.dead_letter(msg, "the subject does not name a chat session")
                await msg.term()
                parked.append(self._count(Outcome.REJECTED))
                continue
            messages[seq] = msg
            pending.append(Pending(seq, msg.subject, key, read_event(msg.data)))
        outcomes = await self._apply(pending, messages)
        early = [p for p in pending if outcomes[p.seq] is Outcome.EARLY]
        for pause in EARLY_PATIENCE_SEC:
            if not early:
                break
            await asyncio.sleep(pause)
            outcomes.update(await self._apply(early, messages))
            early = [p for p in early if outcomes[p.seq] is Outcome.EARLY]
        for seq, outcome in outcomes.items():
            await self._settle(messages[seq], outcome)
        return parked + [self._count(outcome) for outcome in outcomes.values()]

    async def _apply(self, pending: list[Pending], messages: dict[int, Msg]) -> dict[int, Outcome]:
        try:
            try:
                return await self._transaction(pending, messages)
            except CreatedConcurrently:  # a redelivery raced us: the rows are there now
                return await self._transaction(pending, messages)
        except (OperationalError, InterfaceError):  # the database is away: retry, never give up
            log.warning("database unavailable while applying %s chat events", len(pending))
            return {p.seq: Outcome.EARLY for p in pending}
        except Exception:
            if len(pending) == 1:
                return await self._failed_alone(pending[0], messages)
            log.exception("applying %s chat events failed; now one by one", len(pending))
            outcomes: dict[int, Outcome] = {}
            for one in pending:
                outcomes.update(await self._apply([one], messages))
            return outcomes

    async def _failed_alone(self, pending: Pending, messages: dict[int, Msg]) -> dict[int, Outcome]:
        """This event breaks something: retry it later, then park it."""
        log.exception("applying chat event seq=%s failed", pending.seq)
        deliveries = messages[pending.seq].metadata.num_delivered
        if deliveries < self.settings.max_deliveries:
            return {pending.seq: Outcome.EARLY}
        reason = f"applying it failed {deliveries} times"
        try:
            return await self._transaction([replace(pending, give_up=reason)], messages)
        except Exception:
            log.exception("parking chat event seq=%s failed", pending.seq)
            return {pending.seq: Outcome.EARLY}

    async def _transaction(
        self, pending: list[Pending], messages: dict[int, Msg]
    ) -> dict[int, Outcome]:
        async def dead_letter(event: Pending, reason: str) -> None:
            await self.dead_letter(messages[event.seq], reason)

        async with self.engine.begin() as conn:
            outcomes = await self.projector.apply(
                conn, pending, in_turn=self.next_on_subject_is, dead_letter=dead_letter
            )
        return {p.seq: outcome for p, outcome in zip(pending, outcomes, strict=True)}

    async def _settle(self, msg: Msg, outcome: Outcome) -> None:
        if outcome is Outcome.EARLY:
            await msg.nak(delay=redelivery_delay(msg.metadata.num_delivered))
        elif outcome is Outcome.REJECTED:
            await msg.term()
        else:
            await msg.ack()

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
            feed = PullFeed(
                nats,
                topology.chat_stream,
                topology.sessions_consumer,
                consumer.settings.fetch_batch,
            )
            await feed.start()
            try:
                while not stopping.is_set():
                    batch = await feed.take()
                    try:
                        await consumer.handle(batch)
                    except Exception:  # e.g. NATS away while acking: redelivered after ack_wait
                        log.exception("handling %s chat events failed", len(batch))
            finally:
                await feed.stop()
        except Exception:  # connection trouble: nats-py reconnects, we wait and pull again
            log.exception("pulling chat events failed")
            await asyncio.sleep(1)
