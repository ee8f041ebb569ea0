"""Request-reply with answers of any size.

A NATS message is limited to the server's max payload (1 MiB by default), but a chat session's
messages can add up to much more. An answer that does not fit goes out as several messages to the
requester's own inbox, each with the header `Cortex-Chunk: <n>/<count>`; one responder publishes
them in order on one connection, so they arrive in order.
"""

import time
from dataclasses import dataclass, field

from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

CHUNK_HEADER = "Cortex-Chunk"
ERROR_HEADER = "Cortex-Error"  # on an `ErrorReply` answer: its status, so no parsing is needed
HEADROOM = 4096  # protocol line and headers


@dataclass(frozen=True)
class Reply:
    data: bytes
    headers: dict[str, str] = field(default_factory=dict)  # those of the first message


async def send_reply(
    nats: NatsClient, reply_to: str, payload: bytes, headers: dict[str, str] | None = None
) -> None:
    limit = max(HEADROOM, nats.max_payload - HEADROOM)
    if len(payload) <= limit:
        await nats.publish(reply_to, payload, headers=headers)
        return
    count = -(-len(payload) // limit)
    for index in range(count):
        chunk = payload[index * limit : (index + 1) * limit]
        marker = {CHUNK_HEADER: f"{index + 1}/{count}"}
        await nats.publish(reply_to, chunk, headers={**(headers or {}), **marker})


async def request(nats: NatsClient, subject: str, payload: bytes, timeout: float) -> Reply:
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
            return Reply(first.data, headers)
        parts = [first.data]
        count = int(marker.partition("/")[2])
        while len(parts) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NatsTimeout
            parts.append((await subscription.next_msg(timeout=remaining)).data)
        return Reply(b"".join(parts), headers)
    finally:
        await subscription.unsubscribe()
