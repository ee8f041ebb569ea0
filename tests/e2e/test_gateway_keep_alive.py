"""A kept-alive connection outlives the clients' own idle expiry: a client (httpx and Node keep an
idle connection 5 s) that sends its next request on a connection idle that long is answered, not
cut off by the gateway closing it at that moment (the soak's ReadErrors, docs/reliability.md)."""

import asyncio
from urllib.parse import urlsplit

import pytest

from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

CLIENT_IDLE_EXPIRY_SEC = 5.0  # httpx's default keepalive_expiry


async def ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> bytes:
    writer.write(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    await reader.readexactly(length)
    return head


async def test_a_connection_idle_past_the_client_expiry_is_still_answered(stack: Stack) -> None:
    url = urlsplit(stack.gateway_url)
    assert url.hostname is not None and url.port is not None
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        assert (await ask(reader, writer, url.netloc)).startswith(b"HTTP/1.1 200")
        await asyncio.sleep(CLIENT_IDLE_EXPIRY_SEC + 1)
        assert (await ask(reader, writer, url.netloc)).startswith(b"HTTP/1.1 200")
    finally:
        writer.close()
