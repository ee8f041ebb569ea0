"""How a reply travels: answers of any size, and errors marked the same way by every responder.

A NATS message is limited to the server's max payload (1 MiB by default), but a chat session's
messages can add up to much more. An answer that does not fit goes out as several messages to the
requester's inbox, each with the header `Cortex-Chunk: <n>/<count>`; one responder publishes them
in order on one connection, so they arrive in order.

An error answer is an `ErrorReply` (JSON) with the header `Cortex-Error: <status>`, so a
requester knows it without parsing the body.
"""

import asyncio
from dataclasses import dataclass, field

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import NoRespondersError

CHUNK_HEADER = "Cortex-Chunk"
ERROR_HEADER = "Cortex-Error"
HEADROOM = 4096  # protocol line and headers


@dataclass(frozen=True)
class Reply:
    data: bytes
    headers: dict[str, str] = field(default_factory=dict)  # those of the first message

    @property
    def error_status(self) -> int | None:
        status = self.headers.get(ERROR_HEADER)
        return int(status) if status is not None else None


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


class Answer:
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
            if headers.get("Status") == "503":  # the server's "no responders"
                self.done.set_exception(NoRespondersError())
                return
            self._headers = headers
        self._parts.append(msg.data)
        marker = headers.get(CHUNK_HEADER)
        if marker is None or len(self._parts) >= int(marker.partition("/")[2]):
            self.done.set_result(Reply(b"".join(self._parts), self._headers))
