"""Reads a whole stream in order, for replays and rebuilds (an ordered push consumer: flow
controlled, no acks, recreated by nats-py from the last sequence after a gap or a reconnect).
A subject filter and a start time narrow it on the server (exports, docs/audit.md)."""

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, NamedTuple

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

BUFFER = 20_000


class StoredEvent(NamedTuple):
    seq: int
    subject: str
    data: bytes
    headers: dict[str, str] | None = None  # the hash chain's (cortex_runtime.chain), among others
    time: datetime | None = None  # when the stream stored it (UTC)


class StreamReader:
    """Every message of `stream` (matching `subjects`) from the start, or from the first stored
    at or after `since`, in batches."""

    def __init__(
        self, js: JetStreamContext, stream: str, subjects: str, since: datetime | None = None
    ) -> None:
        self.js = js
        self.stream = stream
        self.subjects = subjects
        self.since = since
        self._buffer: list[StoredEvent] = []
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._subscription: Any = None
        self.at_end = False  # the last message delivered was the stream's last at the time
        self.end_seq: int | None = None  # the newest message delivered as the last at the time

    async def start(self) -> None:
        by_time = self.since is not None
        self._subscription = await self.js.subscribe(
            self.subjects,
            stream=self.stream,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.BY_START_TIME if by_time else DeliverPolicy.ALL,
            config=ConsumerConfig(opt_start_time=self.since) if by_time else None,
            cb=self._on_message,
            pending_msgs_limit=BUFFER * 2,
            pending_bytes_limit=256 * 1024 * 1024,
        )

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None

    async def has_nothing(self) -> bool:
        """True when no message matches (nothing delivered, nothing pending): without this, a
        reader of an empty selection would wait for its first batch in vain."""
        info = await self._subscription.consumer_info()
        return not info.num_pending and not (info.delivered and info.delivered.consumer_seq)

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
            StoredEvent(
                metadata.sequence.stream, msg.subject, msg.data, msg.headers, metadata.timestamp
            )
        )
        self.at_end = metadata.num_pending == 0
        if self.at_end:
            self.end_seq = metadata.sequence.stream
        self._arrived.set()


async def read_selection(
    js: JetStreamContext,
    stream: str,
    subjects: str,
    since: datetime | None = None,
    timeout: float = 5.0,
) -> AsyncIterator[list[StoredEvent]]:
    """The messages of `stream` matching `subjects` (stored at or after `since`) that are there
    when the read starts, in order, in batches; nothing for a missing stream. Memory stays
    bounded by the reader's buffer, however many messages match."""
    try:
        await js.stream_info(stream)
    except NotFoundError:
        return
    reader = StreamReader(js, stream, subjects, since)
    await reader.start()
    try:
        if await reader.has_nothing():
            return
        while True:
            batch = await reader.take(timeout)
            if not batch:
                raise TimeoutError(f"{stream}: nothing arrived for {timeout} s")
            yield batch
            # Not `at_end`: more may have arrived while the caller used this batch.
            if reader.end_seq is not None and batch[-1].seq >= reader.end_seq:
                return
    finally:
        await reader.stop()
