"""The gateway's HTTP/1.1 client for model servers (completions/upstream.py) against scripted
servers on real sockets: how responses are framed and cut, and when connections are reused."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from cortex_gateway.completions.client_wire import QueuedWire
from cortex_gateway.completions.upstream import Collected, Exchange, UpstreamError, UpstreamPool

pytestmark = pytest.mark.integration

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
CHUNKED_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)


@asynccontextmanager
async def server(script: Script) -> AsyncIterator[tuple[str, list[int]]]:
    """A server that runs `script` on each connection; its URL and the connections' numbers."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(len(connections) + 1)
        try:
            await script(reader, writer)
        finally:
            writer.close()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield f"http://127.0.0.1:{port}/v1/chat/completions", connections


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return await reader.readexactly(length)


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%b\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


async def body_of(exchange: Exchange) -> bytes:
    collected = Collected()
    exchange.attach(collected)
    return await collected.done


async def test_a_chunked_stream_arrives_whole_however_it_is_cut() -> None:
    events = [b'data: {"n":%d}\n\n' % n for n in range(50)]
    wire = CHUNKED_HEAD + chunked(*events)

    async def byte_by_byte(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        for i in range(0, len(wire), 7):  # cut across heads, chunk sizes and events
            writer.write(wire[i : i + 7])
            await writer.drain()
            await asyncio.sleep(0)

    async with server(byte_by_byte) as (url, _):
        pool = UpstreamPool()
        exchange = await pool.request(url, {"Accept": "text/event-stream"}, b"{}")
        assert exchange.head.result().status == 200
        assert exchange.head.result().headers["content-type"] == "text/event-stream"
        assert await body_of(exchange) == b"".join(events)


async def test_a_connection_is_reused_after_a_whole_answer() -> None:
    async def two_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):
            body = await read_request(reader)
            writer.write(CHUNKED_HEAD + chunked(b"echo " + body))
        await reader.read()

    async with server(two_answers) as (url, connections):
        pool = UpstreamPool()
        first = await body_of(await pool.request(url, {}, b"one"))
        second = await body_of(await pool.request(url, {}, b"two"))
        pool.close()

    assert (first, second) == (b"echo one", b"echo two")
    assert connections == [1]


async def test_a_connection_closed_while_idle_is_replaced_without_an_error() -> None:
    async def one_answer_then_close(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request(reader)
        writer.write(CHUNKED_HEAD + chunked(b"ok"))
        await writer.drain()

    async with server(one_answer_then_close) as (url, connections):
        pool = UpstreamPool()
        assert await body_of(await pool.request(url, {}, b"1")) == b"ok"
        await asyncio.sleep(0.1)  # the server has closed the idle connection by now
        assert await body_of(await pool.request(url, {}, b"2")) == b"ok"

    assert connections == [1, 2]


async def test_a_body_without_length_ends_with_the_connection() -> None:
    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: a\n\n")
        writer.write(b"data: b\n\n")
        await writer.drain()

    async with server(until_close) as (url, _):
        exchange = await UpstreamPool().request(url, {}, b"{}")
        assert await body_of(exchange) == b"data: a\n\ndata: b\n\n"


async def test_a_stream_cut_midway_ends_with_an_error_after_what_came() -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(CHUNKED_HEAD + b"9\r\ndata: a\n\n\r\n")  # no last chunk: cut
        await writer.drain()

    got: list[bytes] = []
    ended: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

    class Sink:
        def body(self, data: bytes) -> None:
            got.append(data)

        def end(self, error: BaseException | None) -> None:
            ended.set_result(error)

    async with server(cut) as (url, _):
        exchange = await UpstreamPool().request(url, {}, b"{}")
        exchange.attach(Sink())
        error = await ended

    assert got == [b"data: a\n\n"]
    assert isinstance(error, UpstreamError)


async def test_a_malformed_response_and_a_closed_port_are_upstream_errors() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    async with server(garbage) as (url, _):
        with pytest.raises(UpstreamError):
            await UpstreamPool().request(url, {}, b"{}")
    with pytest.raises(OSError):
        await UpstreamPool().request(url, {}, b"{}")  # the server is gone


async def test_a_queued_wire_sends_in_order_and_holds_the_upstream_while_full() -> None:
    """The wire for ASGI servers other than uvicorn's httptools one."""
    sent: list[bytes] = []
    release = asyncio.Event()

    async def slow_send(message: dict[str, object]) -> None:
        await release.wait()
        body = message["body"]
        assert isinstance(body, bytes)
        sent.append(body)

    class Upstream:
        paused = 0
        resumed = 0

        def pause_reading(self) -> None:
            self.paused += 1

        def resume_reading(self) -> None:
            self.resumed += 1

    upstream = Upstream()
    wire = QueuedWire(slow_send, upstream)  # type: ignore[arg-type]
    wire.write(b"a" * 700_000)
    wire.write(b"b" * 700_000)  # over the queue's limit: the upstream is held
    assert upstream.paused >= 1
    release.set()
    await wire.flush()

    assert b"".join(sent) == b"a" * 700_000 + b"b" * 700_000
    assert upstream.resumed >= 1
