"""The simulator over real HTTP for its tests: uvicorn in a background thread, a few test models,
and helpers to read its streams and drive its control API.

A test module imports the fixtures it uses, `from tests.support.simulator import client_fixture,
sim_fixture  # noqa: F401`, and asks for them by their names `client` and `sim`."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn

from cortex_simulator import Settings, create_app
from cortex_simulator.models import ModelConfig

VLLM = "t-vllm"
LLAMA = "t-llama"
OPENAI = "t-openai"
REASON = "t-reason"
CHUNKY = "t-chunky"

TEST_MODELS = [
    ModelConfig(
        name=VLLM, personality="vllm", max_context=512, ttft_ms=5, itl_ms=1, output_tokens=40
    ),
    ModelConfig(
        name=LLAMA,
        personality="llamacpp",
        max_context=2048,
        slots=2,
        ttft_ms=5,
        itl_ms=1,
        output_tokens=30,
    ),
    ModelConfig(name=OPENAI, personality="openai", ttft_ms=1, itl_ms=0, output_tokens=12),
    ModelConfig(
        name=REASON,
        personality="vllm",
        reasoning=True,
        reasoning_tokens=6,
        ttft_ms=1,
        itl_ms=0,
        output_tokens=20,
    ),
    ModelConfig(
        name=CHUNKY, personality="vllm", tokens_per_chunk=3, ttft_ms=1, itl_ms=0, output_tokens=10
    ),
]


@dataclass
class Server:
    base: str

    def url(self, model: str, path: str) -> str:
        return f"{self.base}/m/{model}{path}"


@contextmanager
def serving(models: list[ModelConfig]) -> Iterator[str]:
    """The simulator with these models, on a free port in a background thread: its base URL."""
    app = create_app(Settings(models=models))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, timeout_graceful_shutdown=2, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "simulator did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="module", name="sim")
def sim_fixture() -> Iterator[Server]:
    with serving(TEST_MODELS) as base:
        yield Server(base)


@pytest.fixture(name="client")
async def client_fixture(sim: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base, timeout=10) as c:
        yield c
    async with httpx.AsyncClient(base_url=sim.base, timeout=10) as c:
        for model in (VLLM, LLAMA, OPENAI, REASON, CHUNKY):
            (await c.post(f"/_control/{model}/reset")).raise_for_status()


def chat_body(content: str = "Tell me about caching", **kwargs: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}], **kwargs}


@dataclass
class Stream:
    events: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False

    @property
    def content(self) -> str:
        return "".join(
            c["delta"].get("content") or "" for e in self.events for c in e["choices"] if c
        )

    @property
    def content_chunks(self) -> list[str]:
        out: list[str] = []
        for e in self.events:
            for c in e["choices"]:
                if c["delta"].get("content"):
                    out.append(c["delta"]["content"])
        return out

    @property
    def finish_reasons(self) -> list[str]:
        return [c["finish_reason"] for e in self.events for c in e["choices"] if c["finish_reason"]]


async def read_stream(response: httpx.Response, into: Stream | None = None) -> Stream:
    stream = into or Stream()
    async for line in response.aiter_lines():
        if not line.startswith("data: "):
            continue
        data = line[len("data: ") :]
        if data == "[DONE]":
            stream.done = True
            continue
        assert not stream.done, "data after [DONE]"
        stream.events.append(json.loads(data))
    return stream


async def stream_chat(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> Stream:
    async with client.stream("POST", url, json={**body, "stream": True}) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        return await read_stream(response)


async def control(client: httpx.AsyncClient, model: str, **update: Any) -> dict[str, Any]:
    response = await client.post(f"/_control/{model}", json=update)
    response.raise_for_status()
    state: dict[str, Any] = response.json()
    return state


async def state_of(client: httpx.AsyncClient, model: str) -> dict[str, Any]:
    state: dict[str, Any] = (await client.get(f"/_control/{model}")).json()
    return state


async def wait_for_state(
    client: httpx.AsyncClient, model: str, within: float = 3.0, **expected: Any
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        state = await state_of(client, model)
        if all(state[k] == v for k, v in expected.items()):
            return state
        assert time.monotonic() < deadline, f"state never matched {expected}: {state}"
        await asyncio.sleep(0.02)
