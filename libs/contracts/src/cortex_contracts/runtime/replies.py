"""Request-reply with answers of any size.

A NATS message is limited to the server's max payload (1 MiB by default), but a chat session's
messages can add up to much more. An answer that does not fit goes out as several messages to the
requester's own inbox, each with the header `Cortex-Chunk: <n>/<count>`; one responder publishes
them in order on one connection, so they arrive in order.
"""

import time

from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

CHUNK_HEADER = "Cortex-Chunk"
HEADROOM = 4096  # protocol line and headers


async def send_reply(nats: NatsClient, reply_to: str, payload: bytes) -> None:
    limit = max(HEADROOM, nats.max_payload - HEADROOM)
    if len(payload) <= limit:
        await nats.publish(reply_to, payload)
        return
    count = -(-len(payload) // limit)
    for index in range(count):
        chunk = payload[index * limit : (index + 1) * limit]
        await nats.publish(reply_to, chunk, headers={CHUNK_HEADER: f"{index + 1}/{count}"})


async def request(nats: NatsClient, subject: str, payload: bytes, timeout: float) -> bytes:
    """The whole answer; raises nats' TimeoutError or NoRespondersError like `nats.request`."""
    deadline = time.monotonic() + timeout
    inbox = nats.new_inbox()
    subscription = await nats.subscribe(inbox)
    try:
        await nats.publish(subject, payload, reply=inbox)
        first = await subscription.next_msg(timeout=timeout)
        headers = first.headers or {}
        if headers.get("Status") == "503":
            raise NoRespondersError
        marker = headers.get(CHUNK_HEADER)
        if marker is None:
            return first.data
        parts = [first.data]
        count = int(marker.partition("/")[2])
        while len(parts) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NatsTimeout
            parts.append((await subscription.next_msg(timeout=remaining)).data)
        return b"".join(parts)
    finally:
        await subscription.unsubscribe()
