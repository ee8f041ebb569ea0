"""Writing a relayed stream's body to the client from the upstream's read callback.

Under uvicorn's httptools server (what `cortex-gateway` runs) the chunk goes straight onto the
client's socket, framed as HTTP chunked encoding the way uvicorn's own `send` frames it, with no
await: the response head and the last chunk still go through `send`, so uvicorn's view of the
response stays whole. When the client reads slower than the model writes, the upstream is paused
until the client's socket drains (uvicorn's flow control), as `send` would wait.

Under any other ASGI server the chunks are queued and a task sends them (one loop pass later).
"""

import asyncio
from typing import Protocol

from starlette.types import Send
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from cortex_gateway.completions.upstream import Exchange

QUEUE_PAUSE_BYTES = 1024 * 1024  # queued for a slow client: stop reading the upstream


class ClientWire(Protocol):
    def write(self, data: bytes) -> None: ...

    async def flush(self) -> None:
        """Everything written has been handed to the server."""

    def close(self) -> None:
        """Stop any work of the wire's own (the response is ending, however)."""


def client_wire(send: Send, upstream: Exchange) -> ClientWire:
    cycle = getattr(send, "__self__", None)
    if isinstance(cycle, RequestResponseCycle) and cycle.chunked_encoding:
        return SocketWire(cycle, upstream)
    return QueuedWire(send, upstream)


class SocketWire:
    def __init__(self, cycle: RequestResponseCycle, upstream: Exchange) -> None:
        self._cycle = cycle
        self._upstream = upstream
        self._drain: asyncio.Task[None] | None = None

    def write(self, data: bytes) -> None:
        cycle = self._cycle
        if cycle.disconnected:
            return
        cycle.transport.write(b"%x\r\n%b\r\n" % (len(data), data))
        if cycle.flow.write_paused and self._drain is None:
            self._upstream.pause_reading()
            self._drain = asyncio.get_running_loop().create_task(self._resume_when_drained())

    async def _resume_when_drained(self) -> None:
        await self._cycle.flow.drain()
        self._drain = None
        self._upstream.resume_reading()

    async def flush(self) -> None:
        pass  # written already; a pending drain is `send`'s to wait for now

    def close(self) -> None:
        if self._drain is not None:
            self._drain.cancel()


class QueuedWire:
    def __init__(self, send: Send, upstream: Exchange) -> None:
        self._send = send
        self._upstream = upstream
        self._queue: list[bytes] = []
        self._queued_bytes = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._pump = asyncio.get_running_loop().create_task(self._run())

    def write(self, data: bytes) -> None:
        self._queue.append(data)
        self._queued_bytes += len(data)
        if self._queued_bytes > QUEUE_PAUSE_BYTES:
            self._upstream.pause_reading()
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                body = b"".join(self._queue)
                self._queue.clear()
                self._queued_bytes = 0
                self._upstream.resume_reading()
                await self._send({"type": "http.response.body", "body": body, "more_body": True})
            if self._closing:
                return

    async def flush(self) -> None:
        self._closing = True
        self._wake.set()
        await self._pump

    def close(self) -> None:
        self._pump.cancel()
