"""Three replicas of the sessions service share the projection: every event is applied exactly
once and each chat's messages stay in order, even when one replica is killed mid-burst.

The bursts are written with the gateway's own command code (`ChatCommands`: optimistic
concurrency on each chat's subject) straight to JetStream, which is much faster than HTTP; the
reads go through the gateway."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing

import httpx
import pytest

from cortex_gateway.auth.principal import Principal
from cortex_gateway.chat.commands import ChatCommands
from tests.support.chat import MODEL, get_when_ready, nats_of, sql, topology_of
from tests.support.clients import login
from tests.support.partitions import wait_for_shares
from tests.support.processes import ServiceProcess
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

CONCURRENT_CHATS = 25


async def burst(
    stack: Stack,
    principal: Principal,
    chats: int,
    per_chat: int,
    after_a_third: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, list[str]]:
    """`chats` x `per_chat` messages, the chats written concurrently, each chat in order."""
    sent: dict[str, list[str]] = {}
    gate = asyncio.Semaphore(CONCURRENT_CHATS)
    third = asyncio.Event()
    total = 0
    async with nats_of(stack) as client:
        commands = ChatCommands(client.jetstream(), topology_of(stack))

        async def write_chat(number: int) -> None:
            nonlocal total
            async with gate:
                created = await commands.create_session(
                    principal,
                    model_name=MODEL,
                    engine_type="vllm",
                    constraints_json=None,
                    title=None,
                    idempotency_key=None,
                )
                session_id = created.event.aggregate_id
                sent[session_id] = []
                for n in range(per_chat):
                    content = f"chat {number} message {n}"
                    await commands.add_message(
                        principal, session_id, role="user", content=content, metrics_json=None
                    )
                    sent[session_id].append(content)
                    total += 1
                    if total == chats * per_chat // 3:
                        third.set()

        async def at_a_third() -> None:
            await third.wait()
            if after_a_third is not None:
                await after_a_third()

        await asyncio.gather(at_a_third(), *(write_chat(n) for n in range(chats)))
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


async def start_replicas(stack: Stack, count: int) -> list[ServiceProcess]:
    """More replicas, each holding its share of the partitions once this returns."""
    started = list(
        await asyncio.gather(
            *(asyncio.to_thread(stack.start_extra, "sessions") for _ in range(count))
        )
    )
    await wait_for_shares(stack, [stack.processes["sessions"], *started])
    return started


def events_handled(replica: ServiceProcess) -> float:
    """Chat events this replica has taken on (applied, or found early or done before)."""
    metrics = httpx.get(replica.url + "/metrics", timeout=5).text
    return sum(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("cortex_sessions_events_total{")
    )


async def principal_of(client: httpx.AsyncClient) -> Principal:
    me = (await client.get("/auth/me")).json()
    return Principal(
        user_id=me["id"],
        username=me["username"],
        role="user",
        org_id=me["org_id"],
        via="cookie",
    )


async def test_three_replicas_apply_every_event_exactly_once_in_order(stack: Stack) -> None:
    replicas = await start_replicas(stack, 2)
    try:
        name, password = stack.create_user()
        async with aclosing(await login(stack.gateway_url, name, password)) as client:
            sent = await burst(stack, await principal_of(client), chats=20, per_chat=50)
            await assert_applied_once_in_order(stack, client, sent)
        handled = [await asyncio.to_thread(events_handled, r) for r in replicas]
        assert all(count > 0 for count in handled), handled
    finally:
        for replica in replicas:
            await asyncio.to_thread(replica.stop)


async def test_killing_a_replica_mid_burst_loses_and_duplicates_nothing(stack: Stack) -> None:
    replicas = await start_replicas(stack, 2)
    victim = replicas[0]

    def kill_the_victim_at_work() -> None:
        while events_handled(victim) == 0:
            time.sleep(0.05)
        victim.kill()

    try:
        name, password = stack.create_user()
        async with aclosing(await login(stack.gateway_url, name, password)) as client:
            principal = await principal_of(client)
            sent = await burst(
                stack,
                principal,
                chats=50,
                per_chat=100,
                after_a_third=lambda: asyncio.to_thread(kill_the_victim_at_work),
            )
            assert victim.process is not None and victim.process.returncode == -9
            await assert_applied_once_in_order(stack, client, sent)
        assert sum(len(contents) for contents in sent.values()) == 5_000
    finally:
        for replica in replicas:
            await asyncio.to_thread(replica.stop)
