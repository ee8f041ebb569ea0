"""Request-reply with answers of any size.

A NATS message is limited to the server's max payload (1 MiB by default), but a chat session's
messages can add up to much more. An answer that does not fit goes out as several messages to the
requester's inbox, each with the header `Cortex-Chunk: <n>/<count>`; one responder publishes them
in order on one connection, so they arrive in order.

`Requester` keeps one wildcard inbox subscription per connection for all its requests (as
`nats.request` does), so a request costs one publish, not a subscribe and an unsubscribe too.
"""

import asyncio
import itertools
from dataclasses import dataclass, field

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
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


class _Answer:
    """The messages of one answer, as they arrive."""

    def __init__(self) -> None:
        self.done: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._parts: list[bytes] = []
        self._headers: dict[str, str] = {}

    def add(self, msg: Msg) -> None:
        if self.done.done():
            return
        headers = msg.headers or {}
        if not self._parts:
            if headers.get("Status") == "503":
                self.done.set_exception(NoRespondersError())
                return
            self._headers = headers
        self._parts.append(msg.data)
        marker = headers.get(CHUNK_HEADER)
        if marker is None or len(self._parts) >= int(marker.partition("/")[2]):
            self.done.set_result(Reply(b"".join(self._parts), self._headers))


class Requester:
    def __init__(self, nats: NatsClient) -> None:
        self.nats = nats
        self._prefix = nats.new_inbox()
        self._tokens = itertools.count()
        self._waiting: dict[str, _Answer] = {}
        self._subscription: Subscription | None = None
        self._subscribing = asyncio.Lock()

    async def request(self, subject: str, payload: bytes, timeout: float) -> Reply:
        """The whole answer; raises nats' TimeoutError or NoRespondersError like `nats.request`."""
        await self._subscribe()
        token = str(next(self._tokens))
        answer = self._waiting[token] = _Answer()
        try:
            await self.nats.publish(subject, payload, reply=f"{self._prefix}.{token}")
            return await asyncio.wait_for(answer.done, timeout)
        except TimeoutError as error:
            raise NatsTimeout from error
        finally:
            del self._waiting[token]

    async def close(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None

    async def _subscribe(self) -> None:
        if self._subscription is not None:
            return
        async with self._subscribing:
            if self._subscription is None:
                self._subscription = await self.nats.subscribe(
                    f"{self._prefix}.*", cb=self._on_message
                )

    async def _on_message(self, msg: Msg) -> None:
        answer = self._waiting.get(msg.subject.rpartition(".")[2])
        if answer is not None:  # else: an answer that came too late
            answer.add(msg)


async def request(nats: NatsClient, subject: str, payload: bytes, timeout: float) -> Reply:
    """One request on a connection of its own making (see `Requester` for many)."""
    requester = Requester(nats)
    try:
        return await requester.request(subject, payload, timeout)
    finally:
        await requester.close()
