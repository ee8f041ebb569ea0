"""HTTP/1.1 to model servers for completions: each response chunk is handed on in the callback
that reads it.

aiohttp (which still serves the engine probes, models/engine.py) hands a response body to a
task through a stream reader: every chunk of every stream then costs a task switch, one more
pass of the event loop before it reaches the client, and the reader's bookkeeping. At 200
streams that was a third of the gateway's CPU and most of its added time to first token
(bench/bench_gateway.py). Here the socket's protocol parses the response with httptools (the
parser uvicorn serves with) and calls the exchange's `BodySink` directly: the relay measures the
chunk and writes it to the client before the callback returns.

One connection carries one exchange at a time. A response read to its end with keep-alive puts
the connection back in its origin's idle list; a request that fails on a reused connection
before any byte came back is sent once more on a new one (the server closed it while idle).
"""

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast
from urllib.parse import urlsplit

import httptools

from cortex_gateway.completions.silence import SilenceWatch

IDLE_KEEP_SEC = 60.0
MAX_IDLE_PER_ORIGIN = 1024


class UpstreamError(Exception):
    """The model server could not be reached, or broke the exchange off."""


class BodySink(Protocol):
    def body(self, data: bytes) -> None: ...

    def end(self, error: BaseException | None) -> None:
        """Called once: None when the whole body arrived, else why it did not."""


@dataclass(frozen=True)
class Head:
    status: int
    headers: dict[str, str]  # lower-case names


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int

    @property
    def netloc(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


def split_url(url: str) -> tuple[Origin, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpstreamError(f"not an http(s) URL: {url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Origin(parts.scheme, parts.hostname, port), target


class Collected:
    """A BodySink that keeps the whole body (answers that are not streamed, error bodies)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def body(self, data: bytes) -> None:
        self._parts.append(data)

    def end(self, error: BaseException | None) -> None:
        if self.done.done():
            return
        if error is None:
            self.done.set_result(b"".join(self._parts))
        else:
            self.done.set_exception(error)


class Exchange:
    """One request's response on a connection: its head, then its body for a sink. It fails
    with TimeoutError once the server has sent nothing for `read_timeout_sec` (silence.py)."""

    def __init__(
        self, connection: "UpstreamConnection", read_timeout_sec: float, on_end: Callable[[], None]
    ) -> None:
        self._connection = connection
        self._on_end = on_end
        self.head: asyncio.Future[Head] = asyncio.get_running_loop().create_future()
        self.received_bytes = 0
        self.until_close = False  # no length and not chunked: the body ends with the connection
        self._sink: BodySink | None = None
        self._early: list[bytes] = []  # body that came before a sink was attached
        self._ended: tuple[BaseException | None] | None = None
        self._silence = SilenceWatch(self, read_timeout_sec)

    @property
    def ended(self) -> bool:
        return self._ended is not None

    def attach(self, sink: BodySink) -> None:
        """Deliver the body to `sink`: what came already at once, the rest as it comes."""
        self._sink = sink
        early, self._early = self._early, []
        for data in early:
            sink.body(data)
        if self._ended is not None:
            sink.end(self._ended[0])

    def close(self) -> None:
        """Give the exchange up, if it is still on: the server sees the connection close (an
        engine then stops generating); the sink is ended with UpstreamError."""
        self.fail(UpstreamError("closed by the gateway"))

    def fail(self, error: BaseException) -> None:
        if self._ended is None:
            self.finish(error)
            self._connection.abort()

    def pause_reading(self) -> None:
        if self._ended is None:
            self._connection.pause_reading()

    def resume_reading(self) -> None:
        if self._ended is None:
            self._connection.resume_reading()

    # --- fed by the connection ----------------------------------------------------------------
    def receive_head(self, head: Head) -> None:
        self.until_close = (
            "content-length" not in head.headers
            and "chunked" not in head.headers.get("transfer-encoding", "").lower()
        )
        if not self.head.done():
            self.head.set_result(head)

    def receive_body(self, data: bytes) -> None:
        if self._sink is not None:
            self._sink.body(data)
        else:
            self._early.append(data)

    def finish(self, error: BaseException | None) -> None:
        if self._ended is not None:
            return
        self._ended = (error,)
        self._silence.stop()
        self._on_end()
        if not self.head.done():
            self.head.set_exception(error or UpstreamError("ended before its headers"))
            self.head.exception()  # seen: nobody may be waiting any more
        sink, self._sink = self._sink, None  # no cycle left for the garbage collector
        if sink is not None:
            sink.end(error)


class UpstreamConnection(asyncio.Protocol):
    def __init__(self, pool: "UpstreamPool", origin: Origin) -> None:
        self._pool = pool
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.exchange: Exchange | None = None
        self.reused = False
        self._parser = httptools.HttpResponseParser(self)
        self._headers: dict[str, str] = {}

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def start(self, exchange: Exchange, request: bytes) -> None:
        assert self.transport is not None
        self._parser = httptools.HttpResponseParser(self)
        self._headers = {}
        self.exchange = exchange
        self.transport.write(request)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def pause_reading(self) -> None:
        if self.open:
            assert self.transport is not None
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.open:
            assert self.transport is not None
            self.transport.resume_reading()

    # --- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None:  # nothing asked: a server talking out of turn
            self.abort()
            return
        exchange.received_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            exchange.fail(UpstreamError(f"sent a malformed response ({error})"))
        except Exception as error:  # a sink's own failure: end the exchange with it
            exchange.fail(error)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._pool.forget(self)
        exchange, self.exchange = self.exchange, None
        if exchange is None:
            return
        if exc is None and exchange.until_close and exchange.head.done():
            exchange.finish(None)
        else:
            exchange.finish(UpstreamError("closed the connection"))

    # --- httptools callbacks ----------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        if self.exchange is not None:
            self.exchange.receive_head(Head(self._parser.get_status_code(), self._headers))

    def on_body(self, body: bytes) -> None:
        if self.exchange is not None:
            self.exchange.receive_body(body)

    def on_message_complete(self) -> None:
        exchange, self.exchange = self.exchange, None
        if exchange is None:
            return
        keep_alive = self._parser.should_keep_alive()
        exchange.finish(None)
        if keep_alive and self.open:
            self._pool.release(self)
        elif self.transport is not None:
            self.transport.close()


class UpstreamPool:
    """Connections to model servers, kept alive between exchanges, per origin. At most
    `max_exchanges` run at once; more wait for one to end."""

    def __init__(
        self,
        *,
        connect_timeout_sec: float = 5.0,
        read_timeout_sec: float = 300.0,
        max_exchanges: int = 2000,
    ) -> None:
        self._connect_timeout_sec = connect_timeout_sec
        self._read_timeout_sec = read_timeout_sec
        self._slots = asyncio.Semaphore(max_exchanges)
        self._idle: dict[Origin, list[UpstreamConnection]] = {}
        self._expiry: dict[UpstreamConnection, asyncio.TimerHandle] = {}
        self._tls: ssl.SSLContext | None = None

    async def request(self, url: str, headers: dict[str, str], body: bytes) -> Exchange:
        """POST `body`; the exchange once the response head arrived (`exchange.head`). The
        caller attaches a sink for the body, or closes the exchange. TimeoutError when the
        server does not connect or answer in time."""
        origin, target = split_url(url)
        lines = [f"POST {target} HTTP/1.1", f"Host: {origin.netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        while True:
            await self._slots.acquire()  # given back when the exchange ends
            try:
                connection = self._take_idle(origin) or await self._connect(origin)
            except BaseException:
                self._slots.release()
                raise
            exchange = Exchange(connection, self._read_timeout_sec, self._slots.release)
            connection.start(exchange, request)
            try:
                await exchange.head
            except UpstreamError:
                if connection.reused and exchange.received_bytes == 0:
                    continue  # closed by the server while idle: once more on a fresh one
                raise
            except BaseException:
                exchange.close()
                raise
            return exchange

    def release(self, connection: UpstreamConnection) -> None:
        idle = self._idle.setdefault(connection.origin, [])
        if len(idle) >= MAX_IDLE_PER_ORIGIN:
            connection.abort()
            return
        idle.append(connection)
        loop = asyncio.get_running_loop()
        self._expiry[connection] = loop.call_later(IDLE_KEEP_SEC, connection.abort)

    def forget(self, connection: UpstreamConnection) -> None:
        idle = self._idle.get(connection.origin)
        if idle and connection in idle:
            idle.remove(connection)
        timer = self._expiry.pop(connection, None)
        if timer is not None:
            timer.cancel()

    def close(self) -> None:
        for connection in [c for idle in self._idle.values() for c in idle]:
            connection.abort()

    def _take_idle(self, origin: Origin) -> UpstreamConnection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()  # the most recently used: the least likely to be stale
            timer = self._expiry.pop(connection, None)
            if timer is not None:
                timer.cancel()
            if connection.open:
                connection.reused = True
                return connection
        return None

    async def _connect(self, origin: Origin) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        tls = self._tls_context() if origin.scheme == "https" else None
        async with asyncio.timeout(self._connect_timeout_sec):
            _, connection = await loop.create_connection(
                lambda: UpstreamConnection(self, origin), origin.host, origin.port, ssl=tls
            )
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls
