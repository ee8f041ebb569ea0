"""A continuous pull from a durable JetStream consumer: messages as soon as they exist.

Pull requests (`$JS.API.CONSUMER.MSG.NEXT`) are sent by hand rather than with nats-py's
`fetch(n)`: that one waits, once the first message of an idle period arrives, until n messages
came or its timeout passed (a lone write would wait a whole second to be projected), and awaits
every message with a timer of its own, which cost more CPU than storing the event.

Here a pull request (`batch` messages, with heartbeats) is kept open; one callback queues the
messages the moment they arrive; `take` hands out what is there (or, with `fill_sec`, waits a
moment for a fuller batch); the next request goes out as soon as the open one is used up, ends,
or falls silent (a reconnect loses it). Same protocol, same messages: acks, naks and metadata
work as usual.
"""

import asyncio
import json
import logging
import time
from collections import deque

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError

log = logging.getLogger(__name__)

EXPIRES_SEC = 10.0
HEARTBEAT_SEC = 1.0
SILENCE_SEC = 3 * HEARTBEAT_SEC
REFUSED_PAUSE_SEC = 0.5


class ConsumerTrouble(Exception):
    """The server refused the pull (e.g. the consumer was deleted): set it up again."""


def stream_sequence(msg: Msg) -> int:
    """The event's stream sequence, read from its ack subject: `msg.metadata` parses every token
    and builds a datetime, a noticeable share of a consumer's CPU at thousands of events/s.

    `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>...` (9 tokens), or with domain and
    account hash before the stream (12, sometimes 11).
    """
    tokens = (msg.reply or "").split(".")
    if len(tokens) == 9:
        return int(tokens[5])
    if len(tokens) >= 11:
        return int(tokens[7])
    return msg.metadata.sequence.stream  # not an ack subject: nats-py raises the right error


def deliveries(msg: Msg) -> int:
    """How many times this message was delivered (1 the first time), from its ack subject."""
    tokens = (msg.reply or "").split(".")
    if len(tokens) == 9:
        return int(tokens[4])
    if len(tokens) >= 11:
        return int(tokens[6])
    return msg.metadata.num_delivered


class PullFeed:
    def __init__(self, nats: NatsClient, stream: str, consumer: str, batch: int) -> None:
        self.nats = nats
        self.batch = batch
        self._subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._request = json.dumps(
            {
                "batch": batch,
                "expires": int(EXPIRES_SEC * 1e9),
                "idle_heartbeat": int(HEARTBEAT_SEC * 1e9),
            }
        ).encode()
        self._inbox = nats.new_inbox()
        self._queue: deque[Msg] = deque()
        self._arrived = asyncio.Event()
        self._wake_at = 1  # queued messages that wake `take` (more while it fills a batch)
        self._owed = 0  # messages the open request may still deliver
        self._heard_at = time.monotonic()
        self._trouble: str | None = None
        self._refused = False
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        self._subscription = await self.nats.subscribe(self._inbox, cb=self._on_message)

    async def stop(self) -> None:
        """Messages delivered but not taken are handed back (nak) for the consumer's next puller
        (a replica handing a partition over): left alone they would wait out the ack wait. The
        drain receives what the server sent before it saw the unsubscribe; after it the server
        drops the open request, which has no subscriber any more."""
        if self._subscription is None:
            return
        subscription, self._subscription = self._subscription, None
        try:
            await subscription.drain()
            while self._queue:
                await self._queue.popleft().nak()
        except NatsError as error:  # the connection is gone: the ack wait brings them back
            log.warning("handing back %s pulled messages failed: %s", len(self._queue), error)
            self._queue.clear()

    async def take(self, timeout: float | None = None, fill_sec: float = 0.0) -> list[Msg]:
        """At most `batch` messages: waits for at least one, or `timeout` (then maybe none).

        With `fill_sec`, waits up to that long for a whole batch while the open request may
        still bring more (fewer, larger transactions for a consumer that stores in bulk).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._queue:
            if deadline is not None and time.monotonic() >= deadline:
                return []
            if self._trouble:
                raise ConsumerTrouble(self._trouble)
            if self._owed <= 0 or time.monotonic() - self._heard_at > SILENCE_SEC:
                if self._refused:  # e.g. too many waiting requests: do not hammer the server
                    self._refused = False
                    await asyncio.sleep(REFUSED_PAUSE_SEC)
                await self._ask()
            self._arrived.clear()
            wait = SILENCE_SEC if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                await asyncio.wait_for(self._arrived.wait(), min(wait, SILENCE_SEC))
            except TimeoutError:
                continue
        if fill_sec > 0 and len(self._queue) < self.batch and self._owed > 0:
            await self._fill(fill_sec)
        count = min(len(self._queue), self.batch)
        taken = [self._queue.popleft() for _ in range(count)]
        if self._owed <= 0 and len(self._queue) < self.batch:  # ask while this batch is handled
            await self._ask()
        return taken

    async def _fill(self, fill_sec: float) -> None:
        self._wake_at = self.batch
        self._arrived.clear()
        try:
            await asyncio.wait_for(self._arrived.wait(), fill_sec)
        except TimeoutError:
            pass
        finally:
            self._wake_at = 1

    async def _ask(self) -> None:
        self._owed = self.batch
        self._heard_at = time.monotonic()
        await self.nats.publish(self._subject, self._request, reply=self._inbox)

    async def _on_message(self, msg: Msg) -> None:
        self._heard_at = time.monotonic()
        headers = msg.headers
        status = headers.get("Status") if headers and not msg.reply else None
        if status == "100":  # heartbeat: the request is still open
            return
        if status is None:
            self._owed -= 1
            self._queue.append(msg)
            if len(self._queue) >= self._wake_at or self._owed <= 0:
                self._arrived.set()
            return
        if status == "409" and "Consumer Deleted" in (headers or {}).get("Description", ""):
            self._trouble = "the durable consumer was deleted"
        else:  # 404/408: the request is over (no messages, expired); 409: limits
            self._owed = 0
            self._refused = status == "409"
        self._arrived.set()
