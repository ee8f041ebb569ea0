"""Reads a stream in order, pulled batch by batch by an ephemeral consumer without acks, so a
slow reader is never cut off as a slow consumer nor sent more than it asked for: `StreamReader`
(a whole stream, following its end: replays, rebuilds, backups), `read_through` (up to a
sequence: verify and the integrity check) and `read_selection` (a subject filter and a start
time: exports).
"""

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, NamedTuple

from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

PULL_BATCH = 5_000  # per pull request; two are in flight at a time
FOLLOW_EXPIRY_SEC = 1.0  # a follower's idle pull requests expire, and are renewed, this often
READER_IDLE_SEC = 60.0  # a reader that died leaves its consumer this long at most
SELECTION_BATCH = 500  # an export holds one batch at a time, however long the history


class StoredEvent(NamedTuple):
    seq: int
    subject: str
    data: bytes
    headers: dict[str, str] | None = None  # the hash chain's (cortex_runtime.chain), among others
    time: datetime | None = None  # when the stream stored it (UTC)


class StreamReader:
    """Every message of `stream` (matching `subjects`) from the start, in batches, following the
    stream's end: replays, rebuilds, backups and in-memory projections.

    Pulled (`PipelinedPull`, an ephemeral consumer without acks), never pushed: with a push
    consumer the server sends on while a busy reader falls behind, the client drops what its
    buffer cannot hold, and a replay of a million events stalled for good on the gap. If
    requests go unanswered (a reconnect) or a batch is lost, the reader starts a new consumer
    after the last message it handed out: nothing is skipped, nothing repeated.
    """

    def __init__(self, js: JetStreamContext, stream: str, subjects: str) -> None:
        self.js = js
        self.stream = stream
        self.subjects = subjects
        self._consumer: str | None = None
        self._pulled: PipelinedPull | None = None
        self._last = 0  # the last sequence handed out
        self.at_end = False  # the last message handed out was the stream's last at the time

    async def start(self) -> None:
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE if self._last else DeliverPolicy.ALL,
            opt_start_seq=self._last + 1 if self._last else None,
            ack_policy=AckPolicy.NONE,
            filter_subject=self.subjects,
            inactive_threshold=READER_IDLE_SEC,
            mem_storage=True,
            num_replicas=1,
        )
        self._consumer = (await self.js.add_consumer(self.stream, config)).name
        assert self._consumer is not None  # the server names an ephemeral consumer
        self._pulled = PipelinedPull(
            self.js, self.stream, self._consumer, PULL_BATCH, FOLLOW_EXPIRY_SEC, follow=True
        )
        await self._pulled.start()

    async def stop(self) -> None:
        pulled, consumer, self._pulled, self._consumer = self._pulled, self._consumer, None, None
        if pulled is not None:
            await pulled.stop()
        if consumer is not None:
            with contextlib.suppress(NatsError):
                await self.js.delete_consumer(self.stream, consumer)

    async def last_seq(self) -> int:
        """The stream's last sequence now (a target to read up to)."""
        return int((await self.js.stream_info(self.stream)).state.last_seq or 0)

    async def nothing_after(self, seq: int) -> bool:
        """No message is stored after `seq`: a target whose message was deleted or purged (an
        erasure) counts as reached, even when nothing at all was left to deliver."""
        try:
            await self.js.get_msg(
                self.stream, seq=seq + 1, subject=self.subjects, next=True, direct=True
            )
        except NotFoundError:
            return True
        return False

    async def take(self, timeout: float = 5.0) -> list[StoredEvent]:
        """What arrived since the last call (waits for something, at most about `timeout`)."""
        assert self._pulled is not None, "start() first"
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                batch = await self._pulled.take()
                lost = self._pulled.lost
            except (TimeoutError, ConnectionError):  # requests unanswered, or the consumer gone
                batch, lost = [], True
            if lost:
                await self.stop()
                await self.start()
                batch = []
            if batch:
                self._last = batch[-1].seq
                self.at_end = self._pulled.taken_at_end
                return batch
            if asyncio.get_running_loop().time() >= deadline:
                return []


def stored_event(msg: Msg) -> StoredEvent:
    metadata = msg.metadata
    return StoredEvent(
        metadata.sequence.stream, msg.subject, msg.data, msg.headers, metadata.timestamp
    )


async def read_selection(
    js: JetStreamContext,
    stream: str,
    subjects: str,
    since: datetime | None = None,
    timeout: float = 5.0,
) -> AsyncIterator[list[StoredEvent]]:
    """The messages of `stream` matching `subjects` (stored at or after `since`), in order, in
    batches, until none is pending; nothing for a missing stream.

    A pull consumer, not the push reader above: a push consumer's flow control lets the server
    send far more than a slow reader (an export written to a slow client) takes, and the client
    drops the excess. Pulled, memory holds one batch; each pull asks for no more than is pending,
    so none waits for messages that will not come. A lost batch (a reconnect) is an error, never
    a silent gap.
    """
    try:
        await js.stream_info(stream)
    except NotFoundError:
        return
    config = ConsumerConfig(
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.BY_START_TIME if since else DeliverPolicy.ALL,
        opt_start_time=since,
        inactive_threshold=READER_IDLE_SEC,
        mem_storage=True,
        num_replicas=1,
    )
    subscription = await js.pull_subscribe(subjects, stream=stream, config=config)
    info = await subscription.consumer_info()
    try:
        pending, delivered = info.num_pending or 0, 0
        while pending:
            messages = await subscription.fetch(min(pending, SELECTION_BATCH), timeout=timeout)
            for msg in messages:
                delivered += 1
                if msg.metadata.sequence.consumer != delivered:
                    raise ConnectionError(f"{stream}: a batch was lost while reading; read again")
            yield [stored_event(msg) for msg in messages]
            pending = messages[-1].metadata.num_pending
    finally:
        # Best effort: after a lost connection (or a reader dropped once its client closed) the
        # consumer expires by itself after READER_IDLE_SEC.
        with contextlib.suppress(NatsError):
            await subscription.unsubscribe()
            if info.name:
                await js.delete_consumer(stream, info.name)


async def read_through(
    js: JetStreamContext, stream: str, subjects: str, target: int, timeout: float = 5.0
) -> AsyncIterator[list[StoredEvent]]:
    """Every message of the stream up to sequence `target`, in order, in batches (nothing when
    `target` is 0).

    Pulled by an ephemeral consumer without acks (`PipelinedPull`): the reader asks for more as
    it takes what arrived, so a reader short of CPU (a replay on a busy machine) is never cut
    off by the server as a slow consumer, as a push consumer is. A lost batch (a reconnect) is
    an error, never a silent gap.
    """
    if not target:
        return
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.NONE,
        filter_subject=subjects,
        inactive_threshold=READER_IDLE_SEC,  # the server removes it once the read ended
        mem_storage=True,
        num_replicas=1,
    )
    consumer = (await js.add_consumer(stream, config)).name
    assert consumer is not None  # the server names an ephemeral consumer
    pulled = PipelinedPull(js, stream, consumer, PULL_BATCH, timeout)
    await pulled.start()
    try:
        while True:
            try:
                batch = await pulled.take()
            except TimeoutError:
                raise TimeoutError(f"{stream}: nothing arrived for {2 * timeout} s") from None
            if pulled.lost:
                raise ConnectionError(f"{stream}: a batch was lost while reading; read again")
            if batch and batch[-1].seq >= target:
                last = [event for event in batch if event.seq <= target]
                if last:
                    yield last
                return
            if batch:
                yield batch
            # The rest of the range was deleted from the stream (or is not on `subjects`): known
            # from the last message's "nothing pending", else from a request expiring empty.
            if pulled.ended or (batch and pulled.taken_at_end):
                return
    finally:
        await pulled.stop()
        with contextlib.suppress(NatsError):
            await js.delete_consumer(stream, consumer)


# The reply subject of a JetStream message: `$JS.ACK.<stream>.<consumer>.<delivered>.<stream
# seq>.<consumer seq>.<time>.<pending>` (v1, 9 tokens), or with `<domain>.<account hash>` after
# `$JS.ACK` (v2).
_V1_TOKENS = 9
_STATUS, _HEARTBEAT, _EXPIRED = "Status", "100", "408"


def sequences(reply: str) -> tuple[int, int, int]:
    """(stream sequence, consumer sequence, messages pending after it) of a JetStream message,
    from its reply subject."""
    tokens = reply.split(".")
    at = 5 if len(tokens) == _V1_TOKENS else 7
    return int(tokens[at]), int(tokens[at + 1]), int(tokens[at + 3])


class PipelinedPull:
    """Consumer `consumer`'s messages as fast as one Python process takes them: `read_through`'s
    engine.

    nats-py's `fetch` awaits each message of a batch through `next_msg` (a task and a timer per
    message) and `msg.metadata` builds a datetime and two dataclasses per message: at a million
    events that was most of a verify's time (docs/audit.md, Speed). Here the pull requests
    (`CONSUMER.MSG.NEXT`, expiring after `timeout`) are published directly, `IN_FLIGHT` at a time
    so the server never waits for the reader; messages land through a plain subscription
    callback, and only the sequences are read from the reply subject.
    """

    IN_FLIGHT = 2

    def __init__(
        self,
        js: JetStreamContext,
        stream: str,
        consumer: str,
        batch: int,
        timeout: float,
        *,
        follow: bool = False,  # never `ended` (empty requests renewed); wakes per message
    ) -> None:
        # JetStreamContext keeps its connection and its (domain aware) API prefix unexported.
        self._nc = js._nc
        self._next_subject = f"{js._prefix}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        expires = int(timeout * 1_000_000_000)
        self._request = json.dumps({"batch": batch, "expires": expires}).encode()
        self._timeout = timeout
        self._batch = batch
        self._follow = follow
        self._inbox = self._nc.new_inbox()
        self._subscription: Any = None
        self._outstanding: deque[int] = deque()  # messages still owed, per pull request
        self._received: list[StoredEvent] = []
        self._arrived = asyncio.Event()
        self._delivered = 0
        self._failure: str | None = None
        self._at_end = False  # no message was pending after the last one delivered
        self.ended = False  # a request expired with nothing more pending
        self.taken_at_end = False  # nothing was pending after the last message `take` returned
        self.lost = False  # a consumer sequence was skipped: a batch lost on a reconnect

    async def start(self) -> None:
        self._subscription = await self._nc.subscribe(
            self._inbox,
            cb=self._on_message,
            pending_msgs_limit=self._batch * (self.IN_FLIGHT + 1),
            pending_bytes_limit=256 * 1024 * 1024,
        )
        for _ in range(self.IN_FLIGHT):
            await self._pull()

    async def stop(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(NatsError):
                await self._subscription.unsubscribe()
            self._subscription = None

    async def take(self) -> list[StoredEvent]:
        """What arrived by the time a pull request was served or expired (waits at most twice
        the requests' expiry); the next request goes out for what was taken."""
        if not self.ended:
            await asyncio.wait_for(self._arrived.wait(), 2 * self._timeout)
        if self._failure is not None:
            raise ConnectionError(f"reading {self._next_subject}: {self._failure}")
        # Read with the swap (no await between): true of the last message of `batch`.
        batch, self._received, self.taken_at_end = self._received, [], self._at_end
        self._arrived.clear()
        while not self.ended and len(self._outstanding) < self.IN_FLIGHT:
            await self._pull()
        return batch

    async def _pull(self) -> None:
        self._outstanding.append(self._batch)
        await self._nc.publish(self._next_subject, self._request, reply=self._inbox)

    async def _on_message(self, msg: Msg) -> None:
        headers = msg.headers
        status = headers.get(_STATUS) if headers else None
        if status is not None:
            if status == _HEARTBEAT:
                return
            if status == _EXPIRED:  # the oldest request: served in part, or not at all
                if self._outstanding:
                    self._outstanding.popleft()
                # else the server was slow
                self.ended = not self._follow and (self._at_end or not self._delivered)
            else:  # the consumer is gone, say
                self._failure = f"{status} {(headers or {}).get('Description', '')}"
            self._arrived.set()
            return
        seq, consumer_seq, pending = sequences(msg.reply)
        self._at_end = pending == 0
        self._delivered += 1
        if consumer_seq != self._delivered:
            self.lost = True
        self._received.append(StoredEvent(seq, msg.subject, msg.data, headers))
        if self._outstanding:
            self._outstanding[0] -= 1
            if not self._outstanding[0]:  # a request served in full
                self._outstanding.popleft()
                self._arrived.set()
        if self._follow or self._at_end:  # a follower takes each message as soon as it is
            self._arrived.set()  # there; a reader the last one (else a small stream's read
            # waited for its request to expire: 5 s for each stream an integrity check read)
