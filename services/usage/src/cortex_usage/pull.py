"""Batches from a durable pull consumer, with JetStream's pull requests sent by hand.

nats-py's `PullSubscription.fetch` awaits every message of a batch with a timer of its own, which
costs more CPU than storing the event; here one callback collects the batch and one event wakes the
caller. Same protocol (`$JS.API.CONSUMER.MSG.NEXT`), same messages: acks, naks and metadata work
as usual. A message arriving after its batch was handed over joins the next batch.
"""

import asyncio
import json
import logging

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

log = logging.getLogger(__name__)

NO_MESSAGES, REQUEST_TIMEOUT, CONFLICT, HEARTBEAT = "404", "408", "409", "100"
NS_PER_SEC = 1_000_000_000


class BatchPuller:
    def __init__(self, nc: NatsClient, stream: str, consumer: str) -> None:
        self.nc = nc
        self.next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self.inbox = nc.new_inbox()
        self.subscription: Subscription | None = None
        self.received: list[Msg] = []
        self.wanted = 0
        self.answered = asyncio.Event()

    async def start(self) -> None:
        self.subscription = await self.nc.subscribe(self.inbox, cb=self._on_message)

    async def stop(self) -> None:
        if self.subscription is not None:
            await self.subscription.unsubscribe()

    async def fetch(self, batch: int, wait_sec: float) -> list[Msg]:
        """Up to `batch` messages: those there now, or the first ones within `wait_sec`."""
        if len(self.received) < batch:
            self.wanted = batch
            self.answered.clear()
            request = {"batch": batch - len(self.received), "expires": int(wait_sec * NS_PER_SEC)}
            await self.nc.publish(self.next_subject, json.dumps(request).encode(), self.inbox)
            try:  # the server answers within `expires` (a 408 at the latest); the margin is ours
                await asyncio.wait_for(self.answered.wait(), wait_sec + 1.0)
            except TimeoutError:
                pass
        messages, self.received = self.received[:batch], self.received[batch:]
        return messages

    async def _on_message(self, msg: Msg) -> None:
        status = msg.headers.get("Status") if msg.headers else None
        if status is None:
            self.received.append(msg)
            # The first message of an empty consumer ends the wait too: latency over batch size.
            if len(self.received) >= self.wanted or len(self.received) == 1:
                self.answered.set()
            return
        if status == HEARTBEAT:
            return
        if status not in (NO_MESSAGES, REQUEST_TIMEOUT):
            log.warning("pull request answered %s %s", status, msg.headers.get("Description"))
        self.answered.set()
