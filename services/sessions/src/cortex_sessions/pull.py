"""A continuous pull from a durable JetStream consumer: messages as soon as they exist.

nats-py's `fetch(n)` waits, once the first message of an idle period arrives, until n messages
came or its timeout passed: a lone write would wait a whole second to be projected. Here a pull
request (`batch` messages, with heartbeats) is kept open; messages are queued the moment they
arrive and handed out in batches of whatever is there; the next request goes out as soon as the
open one is used up, ends, or falls silent (a reconnect loses it).
"""

import asyncio
import json
import time
from collections import deque

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

EXPIRES_SEC = 10.0
HEARTBEAT_SEC = 1.0
SILENCE_SEC = 3 * HEARTBEAT_SEC
REFUSED_PAUSE_SEC = 0.5


class ConsumerTrouble(Exception):
    """The server refused the pull (e.g. the consumer was deleted): set it up again."""


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
        self._owed = 0  # messages the open request may still deliver
        self._heard_at = time.monotonic()
        self._trouble: str | None = None
        self._refused = False
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        self._subscription = await self.nats.subscribe(self._inbox, cb=self._on_message)

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()

    async def take(self, timeout: float | None = None) -> list[Msg]:
        """The messages that arrived: waits for at least one, or `timeout` (then maybe none)."""
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
        if self._owed <= 0:  # ask for more while this batch is being handled
            await self._ask()
        taken = list(self._queue)
        self._queue.clear()
        return taken

    async def _ask(self) -> None:
        self._owed = self.batch
        self._heard_at = time.monotonic()
        await self.nats.publish(self._subject, self._request, reply=self._inbox)

    async def _on_message(self, msg: Msg) -> None:
        self._heard_at = time.monotonic()
        status = (msg.headers or {}).get("Status")
        if status == "100":  # heartbeat: the request is still open
            return
        if status is None:
            self._owed -= 1
            self._queue.append(msg)
        elif status == "409" and "Consumer Deleted" in (msg.headers or {}).get("Description", ""):
            self._trouble = "the durable consumer was deleted"
        else:  # 404/408: the request is over (no messages, expired); 409: limits
            self._owed = 0
            self._refused = status == "409"
        self._arrived.set()
