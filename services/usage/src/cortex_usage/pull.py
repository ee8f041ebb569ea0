"""Batches from a durable pull consumer, with JetStream's pull requests sent by hand.

nats-py's `PullSubscription.fetch` awaits every message of a batch with a timer of its own, which
costs more CPU than storing the event; here one callback collects the batch and one event wakes the
caller. Same protocol (`$JS.API.CONSUMER.MSG.NEXT`), same messages: acks, naks and metadata work
as usual. A message arriving after its batch was handed over joins the next batch.
"""

import asyncio
import contextlib
import json
import logging

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

log = logging.getLogger(__name__)

NO_MESSAGES, REQUEST_TIMEOUT, CONFLICT, HEARTBEAT = "404", "408", "409", "100"
NS_PER_SEC = 1_000_000_000


def stream_sequence(msg: Msg) -> int:
    """The event's stream sequence, read from its ack subject: `msg.metadata` parses every token
    and builds a datetime, a noticeable share of the recorder's CPU at thousands of events/s.

    `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>...` (9 tokens), or with domain and
    account hash before the stream (12, sometimes 11).
    """
    tokens = (msg.reply or "").split(".")
    if len(tokens) == 9:
        return int(tokens[5])
    if len(tokens) >= 11:
        return int(tokens[7])
    return msg.metadata.sequence.stream  # not an ack subject: nats-py raises the right error


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
        """Up to `batch` messages: those pending now, else those arriving within `wait_sec`."""
        if not self.received:
            await self._request(batch, {"no_wait": True}, wait_sec)  # answered at once
        if not self.received:
            await self._request(batch, {"expires": int(wait_sec * NS_PER_SEC)}, wait_sec)
        messages, self.received = self.received[:batch], self.received[batch:]
        return messages

    async def _request(self, batch: int, options: dict[str, object], wait_sec: float) -> None:
        """Ends with `batch` messages or the server's status (no messages, or expired)."""
        self.wanted = batch
        self.answered.clear()
        request = json.dumps({"batch": batch, **options}).encode()
        await self.nc.publish(self.next_subject, request, self.inbox)
        # The server answers within `expires`; the margin covers a lost connection.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.answered.wait(), wait_sec + 1.0)

    async def _on_message(self, msg: Msg) -> None:
        # Status messages (no messages, expired, heartbeat) carry no ack subject; events do.
        status = msg.headers.get("Status") if msg.headers and not msg.reply else None
        if status is None:
            self.received.append(msg)
            if len(self.received) >= self.wanted:
                self.answered.set()
            return
        if status == HEARTBEAT:
            return
        if status not in (NO_MESSAGES, REQUEST_TIMEOUT):
            description = msg.headers.get("Description") if msg.headers else None
            log.warning("pull request answered %s %s", status, description)
        self.answered.set()
