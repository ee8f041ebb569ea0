"""A client that reads slower than the model writes: the gateway stops reading the model server
until the client catches up, instead of holding the answer in memory (client_wire.py)."""

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.clients import login
from tests.support.completions import (
    PrivateModels,
    chat_body,
    eventually,
    new_api_key,
    private_models,
    unique,
    user_id_of,
)
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

TOKENS = 5_000_000  # ~25 MB of stream: far more than the sockets between the processes hold
CLIENT_BUFFER = 64 * 1024


@pytest.fixture(scope="module")
async def flood(stack: Stack) -> AsyncIterator[tuple[PrivateModels, str, str]]:
    """A model that writes as fast as it can, and an API key to ask it with."""
    name = unique("flood")
    spec = {
        "name": name,
        "personality": "vllm",
        "ttft_ms": 0,
        "itl_ms": 0,
        "output_tokens": TOKENS,
        "tokens_per_chunk": 2000,
        "max_context": 2 * TOKENS,
    }
    admin = await login(stack.gateway_url, "admin", stack.admin_password)
    username, password = stack.create_user()
    user = await login(stack.gateway_url, username, password)
    key = await new_api_key(admin, await user_id_of(user))
    await user.aclose()
    async with private_models(stack, admin, [spec]) as models:
        yield models, name, key
    await admin.aclose()


async def open_stream(
    stack: Stack, model: str, key: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw HTTP/1.1 client with a small receive buffer, so what it does not read stays unsent."""
    url = httpx.URL(stack.gateway_url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CLIENT_BUFFER)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (url.host, url.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=CLIENT_BUFFER)
    body = json.dumps(chat_body(model, stream=True)).encode()
    writer.write(
        (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: {url.host}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return reader, writer


async def streamed_tokens(models: PrivateModels, name: str) -> int:
    return int((await models.state(name))["streamed_tokens"])


async def settled(models: PrivateModels, name: str) -> int:
    """The model's output count once it has stopped moving."""
    last = -1
    while True:
        await asyncio.sleep(0.5)
        now = await streamed_tokens(models, name)
        if now == last:
            return now
        last = now


async def test_a_client_that_does_not_read_holds_the_model_back(
    stack: Stack, flood: tuple[PrivateModels, str, str]
) -> None:
    models, name, key = flood
    reader, writer = await open_stream(stack, name, key)
    try:
        held = await asyncio.wait_for(settled(models, name), timeout=30)
        assert 0 < held < TOKENS / 2  # the model waits: the answer is not read into the gateway

        received = 0
        while received < 8 * 1024 * 1024:  # the client reads on: the model goes on
            received += len(await reader.read(1024 * 1024))

        async def moved_on() -> bool:
            return await streamed_tokens(models, name) > held

        assert await eventually(moved_on, "the model writes again once the client reads")
    finally:
        writer.close()
