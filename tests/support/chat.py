"""Helpers for the chat-session tests: reads that wait for the projection, the stack's NATS and
database seen from the outside, and table snapshots."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import nats
import psycopg
from nats.aio.client import Client as NatsClient

from cortex_contracts.topology import Topology
from tests.support.backends import libpq_url
from tests.support.stack import Stack

MODEL = "sim-vllm-small"
OTHER_MODEL = "sim-llamacpp-large"
PATIENCE_SEC = 90.0  # how long a test waits for the projection to catch up (after a kill, say)
CHAT_TABLES = ("chat_sessions", "chat_messages", "chat_session_tombstones")


async def get_when_ready(client: httpx.AsyncClient, url: str, **params: Any) -> httpx.Response:
    """GET, retrying the 503 + Retry-After that means "your write is still being projected"."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE_SEC
    while True:
        response = await client.get(url, params=params or None)
        if response.status_code != 503 or loop.time() > deadline:
            return response
        assert "Retry-After" in response.headers, response.text
        await asyncio.sleep(0.2)


async def create_session(client: httpx.AsyncClient, model: str = MODEL, **extra: Any) -> str:
    created = await client.post("/v1/chat/sessions", json={"model_name": model, **extra})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def add_message(
    client: httpx.AsyncClient, session_id: str, content: str, role: str = "user", **extra: Any
) -> dict[str, Any]:
    added = await client.post(
        f"/v1/chat/sessions/{session_id}/messages",
        json={"role": role, "content": content, **extra},
    )
    assert added.status_code == 201, added.text
    result: dict[str, Any] = added.json()
    return result


async def user_id_of(client: httpx.AsyncClient) -> str:
    me = await client.get("/auth/me")
    assert me.status_code == 200, me.text
    return str(me.json()["id"])


def topology_of(stack: Stack) -> Topology:
    partitions = int(stack.env.get("CORTEX_CHAT_PARTITIONS", "1"))
    return Topology(prefix=stack.env["CORTEX_NATS_PREFIX"], chat_partitions=partitions)


@asynccontextmanager
async def nats_of(stack: Stack) -> AsyncIterator[NatsClient]:
    client = await nats.connect(stack.env["CORTEX_NATS_URL"])
    try:
        yield client
    finally:
        await client.close()


def sql(stack: Stack, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq_url(stack.database_url)) as conn:
        return conn.execute(query, params or None).fetchall()


def snapshot(stack: Stack) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the projection's tables, in a stable order, plus their indexes/constraints."""
    tables = {name: sql(stack, f"SELECT * FROM {name} ORDER BY 1") for name in CHAT_TABLES}
    tables["indexes"] = sql(
        stack,
        "SELECT tablename, indexname, indexdef FROM pg_indexes"
        " WHERE tablename = ANY(%s) ORDER BY 1, 2",
        list(CHAT_TABLES),
    )
    tables["constraints"] = sql(
        stack,
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid::regclass::text = ANY(%s) ORDER BY 1, 2",
        list(CHAT_TABLES),
    )
    return tables


def as_uuid(session_id: str) -> uuid.UUID:
    return uuid.UUID(session_id)


# The tool of the inspector's tests and of `make real-engine`: the model may call it with a city.
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
