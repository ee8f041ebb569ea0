"""Three replicas of the sessions service share the projection: every event is applied exactly
once and each chat's messages stay in order, even when one replica is killed mid-burst."""

import asyncio
import threading
from contextlib import aclosing

import httpx
import pytest

from tests.support.chat import get_when_ready, sql
from tests.support.clients import login
from tests.support.processes import ServiceProcess
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

CONCURRENT_CHATS = 25


async def burst(
    client: httpx.AsyncClient, chats: int, per_chat: int, on_progress: threading.Event | None = None
) -> dict[str, list[str]]:
    """`chats` x `per_chat` messages, the chats written concurrently, each chat in order."""
    sent: dict[str, list[str]] = {}
    gate = asyncio.Semaphore(CONCURRENT_CHATS)
    total = 0

    async def write_chat(number: int) -> None:
        nonlocal total
        async with gate:
            created = await client.post("/v1/chat/sessions", json={"model_name": "sim-vllm-small"})
            assert created.status_code == 201, created.text
            session_id = created.json()["id"]
            sent[session_id] = []
            for n in range(per_chat):
                content = f"chat {number} message {n}"
                added = await client.post(
                    f"/v1/chat/sessions/{session_id}/messages",
                    json={"role": "user", "content": content},
                )
                assert added.status_code == 201, added.text
                sent[session_id].append(content)
                total += 1
                if on_progress is not None and total == chats * per_chat // 3:
                    on_progress.set()

    await asyncio.gather(*(write_chat(n) for n in range(chats)))
    return sent


async def assert_applied_once_in_order(
    stack: Stack, client: httpx.AsyncClient, sent: dict[str, list[str]]
) -> None:
    for session_id, contents in sent.items():
        fetched = await get_when_ready(client, f"/v1/chat/sessions/{session_id}")
        assert fetched.status_code == 200, fetched.text
        assert [m["content"] for m in fetched.json()["messages"]] == contents
        assert fetched.json()["message_count"] == len(contents)
    rows = sql(
        stack,
        "SELECT s.id::text, s.message_count, count(m.id), count(DISTINCT m.content)"
        " FROM chat_sessions s LEFT JOIN chat_messages m ON m.session_id = s.id"
        " WHERE s.id::text = ANY(%s) GROUP BY s.id, s.message_count",
        list(sent),
    )
    assert len(rows) == len(sent)
    for session_id, count_column, stored, distinct in rows:
        assert count_column == stored == distinct == len(sent[session_id]), session_id


def start_replicas(stack: Stack, count: int) -> list[ServiceProcess]:
    return [stack.start_extra("sessions") for _ in range(count)]


async def test_three_replicas_apply_every_event_exactly_once_in_order(stack: Stack) -> None:
    replicas = await asyncio.to_thread(start_replicas, stack, 2)
    try:
        name, password = stack.create_user()
        async with aclosing(await login(stack.gateway_url, name, password)) as client:
            sent = await burst(client, chats=20, per_chat=50)
            await assert_applied_once_in_order(stack, client, sent)
    finally:
        for replica in replicas:
            await asyncio.to_thread(replica.stop)


async def test_killing_a_replica_mid_burst_loses_and_duplicates_nothing(stack: Stack) -> None:
    replicas = await asyncio.to_thread(start_replicas, stack, 2)
    victim = replicas[0]
    a_third_sent = threading.Event()
    killer = threading.Thread(target=lambda: a_third_sent.wait(600) and victim.kill())
    killer.start()
    try:
        name, password = stack.create_user()
        async with aclosing(await login(stack.gateway_url, name, password)) as client:
            sent = await burst(client, chats=50, per_chat=100, on_progress=a_third_sent)
            await asyncio.to_thread(killer.join)
            assert victim.process is not None and victim.process.returncode == -9
            await assert_applied_once_in_order(stack, client, sent)
    finally:
        a_third_sent.set()
        for replica in replicas:
            await asyncio.to_thread(replica.stop)
