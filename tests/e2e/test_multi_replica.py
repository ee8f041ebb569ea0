"""Two gateways and three sessions replicas, processes behind one NATS and one PostgreSQL: chats
written through both gateways at once are all projected exactly once and in order."""

import asyncio
from contextlib import AsyncExitStack

import pytest

from tests.support.chat import add_message, create_session, get_when_ready, sql
from tests.support.clients import login
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

CHATS = 12
MESSAGES_PER_CHAT = 10


async def test_chats_written_through_two_gateways_are_projected_once_in_order(
    stack: Stack,
) -> None:
    extra = await asyncio.gather(
        asyncio.to_thread(stack.start_extra, "gateway"),
        asyncio.to_thread(stack.start_extra, "sessions"),
        asyncio.to_thread(stack.start_extra, "sessions"),
    )
    second_gateway = extra[0]
    name, password = stack.create_user()
    try:
        async with AsyncExitStack() as clients:
            first = await login(stack.gateway_url, name, password)
            second = await login(second_gateway.url, name, password)
            clients.push_async_callback(first.aclose)
            clients.push_async_callback(second.aclose)
            gateways = (first, second)

            async def write_chat(number: int) -> tuple[str, list[str]]:
                session_id = await create_session(gateways[number % 2])
                contents = []
                for n in range(MESSAGES_PER_CHAT):
                    content = f"chat {number} message {n}"
                    # Alternate gateways within one chat: order must hold across replicas.
                    await add_message(gateways[(number + n) % 2], session_id, content)
                    contents.append(content)
                return session_id, contents

            written = dict(await asyncio.gather(*(write_chat(n) for n in range(CHATS))))

            for session_id, contents in written.items():
                for client in gateways:
                    fetched = await get_when_ready(client, f"/v1/chat/sessions/{session_id}")
                    assert fetched.status_code == 200, fetched.text
                    assert [m["content"] for m in fetched.json()["messages"]] == contents
            listed = await get_when_ready(second, "/v1/chat/sessions", limit=100)
            assert sorted(s["id"] for s in listed.json()["sessions"]) == sorted(written)
    finally:
        for process in extra:
            await asyncio.to_thread(process.stop)

    rows = sql(
        stack,
        "SELECT m.session_id::text, count(*), count(DISTINCT m.content)"
        " FROM chat_messages m WHERE m.session_id::text = ANY(%s) GROUP BY m.session_id",
        list(written),
    )
    assert len(rows) == CHATS
    assert all(total == distinct == MESSAGES_PER_CHAT for _, total, distinct in rows)
