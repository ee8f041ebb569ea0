"""Reads a whole stream in order, for replays and rebuilds (an ordered push consumer: flow
controlled, no acks, recreated by nats-py from the last sequence after a gap or a reconnect)."""

import asyncio
from typing import Any, NamedTuple

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError

BUFFER = 20_000


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
