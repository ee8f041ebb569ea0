"""Reads a whole stream in order, for replays and rebuilds: `StreamReader` (an ordered push
consumer: flow controlled, no acks, recreated by nats-py from the last sequence after a gap or a
reconnect; it follows the stream's end) and `read_through` (batch pulls up to a sequence: verify
and the integrity check)."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

BUFFER = 20_000
PULL_BATCH = 2_000
READER_IDLE_SEC = 60.0


class StoredEvent(NamedTuple):
    seq: int
    subject: str
    data: bytes
    headers: dict[str, str] | None = None  # the hash chain's (cortex_runtime.chain), among others


class StreamReader:
    """Every message of `stream` (matching `subjects`) from the start, in batches."""

    def __init__(self, js: JetStreamContext, stream: str, subjects: str) -> None:
        self.js = js
        self.stream = stream
        self.subjects = subjects
        self._buffer: list[StoredEvent] = []
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._subscription: Any = None
        self.at_end = False  # the last message delivered was the stream's last at the time

    async def start(self) -> None:
        self._subscription = await self.js.subscribe(
            self.subjects,
            stream=self.stream,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
            cb=self._on_message,
            pending_msgs_limit=BUFFER * 2,
            pending_bytes_limit=256 * 1024 * 1024,
        )

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None

    async def last_seq(self) -> int:
        """The stream's last sequence now (a target to read up to)."""
        return int((await self.js.stream_info(self.stream)).state.last_seq or 0)

    async def take(self, timeout: float = 5.0) -> list[StoredEvent]:
        """What arrived since the last call (waits for something, at most `timeout`)."""
        try:
            await asyncio.wait_for(self._arrived.wait(), timeout)
        except TimeoutError:
            return []
        batch, self._buffer = self._buffer, []
        self._arrived.clear()
        self._room.set()
        return batch

    async def _on_message(self, msg: Msg) -> None:
        while len(self._buffer) >= BUFFER:  # slow down delivery (flow control) meanwhile
            self._room.clear()
            await self._room.wait()
        metadata = msg.metadata
        self._buffer.append(
            StoredEvent(metadata.sequence.stream, msg.subject, msg.data, msg.headers)
        )
        self.at_end = metadata.num_pending == 0
        self._arrived.set()


async def read_through(
    js: JetStreamContext, stream: str, subjects: str, target: int, timeout: float = 5.0
) -> AsyncIterator[list[StoredEvent]]:
    """Every message of the stream up to sequence `target`, in order, in batches (nothing when
    `target` is 0).

    Pulled a batch at a time by an ephemeral consumer without acks: the reader asks for the next
    batch when it is done with the last, so a reader short of CPU (a replay on a busy machine)
    is never cut off by the server as a slow consumer, as a push consumer is.
    """
    if not target:
        return
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.NONE,
        inactive_threshold=READER_IDLE_SEC,  # the server removes it once the read ended
    )
    pulled = await js.pull_subscribe(subjects, stream=stream, config=config)
    try:
        at_end = False
        while True:
            try:
                messages = await pulled.fetch(PULL_BATCH, timeout=timeout)
            except nats.errors.TimeoutError:
                if at_end:  # the rest of the range was deleted from the stream
                    return
                raise TimeoutError(f"{stream}: nothing arrived for {timeout} s") from None
            batch = []
            for msg in messages:
                metadata = msg.metadata
                at_end = metadata.num_pending == 0
                batch.append(
                    StoredEvent(metadata.sequence.stream, msg.subject, msg.data, msg.headers)
                )
            if batch and batch[-1].seq >= target:
                last = [event for event in batch if event.seq <= target]
                if last:
                    yield last
                return
            if batch:
                yield batch
    finally:
        await pulled.unsubscribe()
