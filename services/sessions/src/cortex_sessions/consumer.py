"""The live projection: a durable pull consumer shared by every replica of this service.

nats-py directly rather than a FastStream subscriber: the projection needs each message's stream
sequence and delivery count, and acks, delayed naks and terms of its own choosing.
"""

import asyncio
import logging
import time
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

EARLY_HOLD_SEC = 2.0  # then nak it: its predecessor may be with a replica that died
EARLY_RETRY_SEC = 0.01  # how soon held events are tried again when nothing new arrives
MAX_REDELIVERY_DELAY_SEC = 2.0


def redelivery_delay(deliveries: int) -> float:
    return float(min(MAX_REDELIVERY_DELAY_SEC, 0.05 * 2 ** min(deliveries, 8)))


def read_event(data: bytes) -> AnyChatEvent | Unreadable:
    try:
        return parse_chat_event(data)
    except ValidationError as error:
        return Unreadable(f"not a chat event: {error.errors()[0]['msg']}"[:300])


def _checked(msg: Msg, event: AnyChatEvent | Unreadable) -> bool:
    """JetStream stored it only because the subject's last message was its `previous_seq`."""
    expected = (msg.headers or {}).get("Nats-Expected-Last-Subject-Sequence")
    return not isinstance(event, Unreadable) and expected == str(event.previous_seq)


class ChatEventConsumer:
    def __init__(self, engine: AsyncEngine, js: JetStreamContext, settings: Settings) -> None:
        self.engine = engine
        self.js = js
        self.settings = settings
        self.topology: Topology = settings.topology
        self.projector = Projector()
        # Early events kept here and retried with the next batches: their predecessor is
        # usually in another replica's batch, committed a moment later. A nak would cost a
        # redelivery delay for every link of a chat that crosses from one replica to another.
        self._waiting: dict[int, tuple[Msg, Pending]] = {}
        self._held_since: dict[int, float] = {}

    @property
    def waiting(self) -> bool:
        return bool(self._waiting)

    async def handle(self, batch: list[Msg]) -> list[Outcome]:
        """Apply, then acknowledge (or park, or keep for a retry) every message of the batch,
        together with the early ones still waiting for their predecessor."""
        messages: dict[int, Msg] = {}
        pending: list[Pending] = []
        handled: list[Outcome] = []
        for msg in batch:
            seq = msg.metadata.sequence.stream
            key = session_key(msg.subject)
            if key is None:  # nothing to keep a position for: park it and move on
                await self.dead_letter(msg, "the subject does not name a chat session")
                await msg.term()
                handled.append(self._count(Outcome.REJECTED))
                continue
            messages[seq] = msg
            event = read_event(msg.data)
            pending.append(Pending(seq, msg.subject, key, event, trusted=_checked(msg, event)))
        for seq, (msg, held) in self._waiting.items():
            messages[seq] = msg
            pending.append(held)
        if not pending:
            return handled
        pending.sort(key=lambda p: p.seq)
        outcomes = await self._apply(pending, messages)
        now = time.monotonic()
        for one in pending:
            outcome, msg = outcomes[one.seq], messages[one.seq]
            if outcome is Outcome.EARLY and now - self._waiting_since(one, now) < EARLY_HOLD_SEC:
                self._waiting[one.seq] = (msg, one)  # its predecessor is on its way: keep it
                continue
            self._waiting.pop(one.seq, None)
            self._held_since.pop(one.seq, None)
            await self._settle(msg, outcome)
            handled.append(self._count(outcome))
        return handled

    def _waiting_since(self, event: Pending, now: float) -> float:
        return self._held_since.setdefault(event.seq, now)

    async def _apply(self, pending: list[Pending], messages: dict[int, Msg]) -> dict[int, Outcome]:
        try:
            try:
                return await self._transaction(pending, messages)
            except CreatedConcurrently:  # a redelivery raced us: the rows are there now
                return await self._transaction(pending, messages)
        except (OperationalError, InterfaceError):  # the database is away: retry, never give up
            log.warning("database unavailable while applying %s chat events", len(pending))
            return {p.seq: Outcome.FAILED for p in pending}
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
            return {pending.seq: Outcome.FAILED}
        reason = f"applying it failed {deliveries} times"
        try:
            return await self._transaction([replace(pending, give_up=reason)], messages)
        except Exception:
            log.exception("parking chat event seq=%s failed", pending.seq)
            return {pending.seq: Outcome.FAILED}

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
        if outcome in (Outcome.EARLY, Outcome.FAILED):
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
                    batch = await feed.take(EARLY_RETRY_SEC if consumer.waiting else None)
                    try:
                        await consumer.handle(batch)
                    except Exception:  # e.g. NATS away while acking: redelivered after ack_wait
                        log.exception("handling %s chat events failed", len(batch))
            finally:
                await feed.stop()
        except Exception:  # connection trouble: nats-py reconnects, we wait and pull again
            log.exception("pulling chat events failed")
            await asyncio.sleep(1)
