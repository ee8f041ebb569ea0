"""The live projection: the batch handler of one partition's durable consumer (partitions.py),
pulled by `cortex_runtime.consumer` in the replica that holds the partition.

The projection needs each message's stream sequence and delivery count, and acks, delayed naks
and terms of its own choosing; its position is stored in the same transaction as the rows.
"""

import logging
import time
from dataclasses import replace

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from cortex_contracts.events.chat import AnyChatEvent, parse_chat_event
from cortex_contracts.topology import Topology
from cortex_runtime.consumer import BatchHandler
from cortex_runtime.parking import FAILING, OVERSIZED, REJECTED, Parking, unreadable_kind
from cortex_runtime.pull import deliveries, stream_sequence
from cortex_sessions.erasure import split_erased
from cortex_sessions.fold import Unreadable, session_key
from cortex_sessions.metrics import EVENTS_APPLIED
from cortex_sessions.projector import CreatedConcurrently, Outcome, Pending, Projector
from cortex_sessions.settings import Settings

log = logging.getLogger(__name__)

EARLY_HOLD_SEC = 2.0  # then nak it: its predecessor may be with a replica that died
EARLY_RETRY_SEC = 0.01  # how soon held events are tried again when nothing new arrives
MAX_REDELIVERY_DELAY_SEC = 2.0
_APPLIED = {outcome: EVENTS_APPLIED.labels(outcome.value) for outcome in Outcome}  # per event


def redelivery_delay(count: int) -> float:
    return float(min(MAX_REDELIVERY_DELAY_SEC, 0.05 * 2 ** min(count, 8)))


def read_event(data: bytes, max_bytes: int | None = None) -> AnyChatEvent | Unreadable:
    if max_bytes is not None and len(data) > max_bytes:
        return Unreadable(f"oversized event: {len(data)} bytes, more than {max_bytes}", OVERSIZED)
    try:
        return parse_chat_event(data)
    except ValidationError as error:
        reason = f"not a chat event: {error.errors()[0]['msg']}"[:300]
        return Unreadable(reason, unreadable_kind(error))


def _checked(msg: Msg, event: AnyChatEvent | Unreadable) -> bool:
    """JetStream stored it only because the subject's last message was its `previous_seq`."""
    expected = (msg.headers or {}).get("Nats-Expected-Last-Subject-Sequence")
    return not isinstance(event, Unreadable) and expected == str(event.previous_seq)


def stray_parker(parking: Parking, partitions: int) -> BatchHandler:
    """The handler of `partitions.strays_consumer`: every message is dead-lettered."""
    reason = f"a chat subject of no partition (this deployment has {partitions})"

    async def park_all(batch: list[Msg]) -> None:
        for msg in batch:
            await parking.park(msg, reason, REJECTED)
            await msg.term()
            _APPLIED[Outcome.REJECTED].inc()

    return park_all


class ChatEventConsumer:
    def __init__(
        self, engine: AsyncEngine, js: JetStreamContext, settings: Settings, parking: Parking
    ) -> None:
        self.engine = engine
        self.js = js
        self.settings = settings
        self.parking = parking
        self.topology: Topology = settings.topology
        self.projector = Projector()
        # Early events kept here and retried with the next batches: their predecessor is
        # usually in another replica's batch, committed a moment later. A nak would cost a
        # redelivery delay for every link of a chat that crosses from one replica to another.
        self._waiting: dict[int, tuple[Msg, Pending]] = {}
        self._held_since: dict[int, float] = {}

    def wake_after(self) -> float | None:
        """Held events are retried soon even when nothing new arrives."""
        return EARLY_RETRY_SEC if self._waiting else None

    async def release(self) -> None:
        """The partition goes to another replica: the events held here go back to the stream."""
        held = [msg for msg, _ in self._waiting.values()]
        self._waiting.clear()
        self._held_since.clear()
        for msg in held:
            await msg.nak()

    async def handle(self, batch: list[Msg]) -> list[Outcome]:
        """Apply, then acknowledge (or park, or keep for a retry) every message of the batch,
        together with the early ones still waiting for their predecessor."""
        messages: dict[int, Msg] = {}
        pending: list[Pending] = []
        handled: list[Outcome] = []
        for msg in batch:
            seq = stream_sequence(msg)
            key = session_key(msg.subject, partitions=self.topology.chat_partitions)
            if key is None:  # nothing to keep a position for: park it and move on
                reason = "the subject does not name a chat session"
                await self.parking.park(msg, reason, REJECTED)
                await msg.term()
                handled.append(self._count(Outcome.REJECTED))
                continue
            messages[seq] = msg
            event = read_event(msg.data, self.settings.max_event_bytes)
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
        tries = deliveries(messages[pending.seq])
        if tries < self.settings.max_deliveries:
            return {pending.seq: Outcome.FAILED}
        reason = f"applying it failed {tries} times"
        try:
            return await self._transaction([replace(pending, give_up=reason)], messages)
        except Exception:
            log.exception("parking chat event seq=%s failed", pending.seq)
            return {pending.seq: Outcome.FAILED}

    async def _transaction(
        self, pending: list[Pending], messages: dict[int, Msg]
    ) -> dict[int, Outcome]:
        async def dead_letter(event: Pending, reason: str) -> None:
            await self.parking.park(messages[event.seq], reason, _kind(event))

        async with self.engine.begin() as conn:
            live, erased = await split_erased(conn, pending)
            outcomes = await self.projector.apply(
                conn, live, in_turn=self.next_on_subject_is, dead_letter=dead_letter
            )
        applied = {p.seq: outcome for p, outcome in zip(live, outcomes, strict=True)}
        return applied | {p.seq: Outcome.ERASED for p in erased}

    async def _settle(self, msg: Msg, outcome: Outcome) -> None:
        if outcome in (Outcome.EARLY, Outcome.FAILED):
            await msg.nak(delay=redelivery_delay(deliveries(msg)))
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

    @staticmethod
    def _count(outcome: Outcome) -> Outcome:
        _APPLIED[outcome].inc()
        return outcome


def _kind(event: Pending) -> str:
    if isinstance(event.event, Unreadable):
        return event.event.kind
    return FAILING if event.give_up else REJECTED
