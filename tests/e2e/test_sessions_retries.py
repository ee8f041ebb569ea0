"""The owner's chat-session API through the real gateway, JetStream and sessions projection:
retried requests and concurrent writers."""

import asyncio

import pytest

from tests.conftest import LoginAs
from tests.support.chat import (
    MODEL,
    add_message,
    create_session,
    get_when_ready,
)
from tests.support.clients import login
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


async def test_a_retried_creation_returns_the_first_chat(login_as: LoginAs) -> None:
    client = await login_as()
    headers = {"Idempotency-Key": "create-1"}

    racing = await asyncio.gather(  # a client that retried before the first answer came
        *(
            client.post("/v1/chat/sessions", json={"model_name": MODEL}, headers=headers)
            for _ in range(6)
        )
    )
    late = await client.post("/v1/chat/sessions", json={"model_name": MODEL}, headers=headers)

    first = racing[0]
    assert first.status_code == 201
    assert all(r.status_code == 201 and r.json() == first.json() for r in [*racing, late])
    listed = (await get_when_ready(client, "/v1/chat/sessions")).json()["sessions"]
    assert [s["id"] for s in listed] == [first.json()["id"]]
    other_key = await client.post(
        "/v1/chat/sessions", json={"model_name": MODEL}, headers={"Idempotency-Key": "create-2"}
    )
    assert other_key.json()["id"] != first.json()["id"]


async def test_the_same_key_of_two_users_makes_two_chats(login_as: LoginAs) -> None:
    one, two = await login_as(), await login_as()
    headers = {"Idempotency-Key": "same-key"}

    first = await one.post("/v1/chat/sessions", json={"model_name": MODEL}, headers=headers)
    second = await two.post("/v1/chat/sessions", json={"model_name": MODEL}, headers=headers)

    assert first.json()["id"] != second.json()["id"]
    assert (
        await get_when_ready(two, f"/v1/chat/sessions/{second.json()['id']}")
    ).status_code == 200


async def test_a_retried_message_is_stored_once_even_after_other_writes(login_as: LoginAs) -> None:
    client = await login_as()
    session_id = await create_session(client)
    url = f"/v1/chat/sessions/{session_id}/messages"
    headers = {"Idempotency-Key": "message-1"}
    body = {"role": "user", "content": "only once"}

    # Racing attempts: all but one fail JetStream's expected-sequence check first, reload the
    # chat and are then recognised as duplicates of the one that got in.
    racing = await asyncio.gather(*(client.post(url, json=body, headers=headers) for _ in range(6)))
    await add_message(client, session_id, "something else")  # the retry's state is stale now
    late = await client.post(url, json=body, headers=headers)

    first = racing[0]
    assert first.status_code == 201
    assert all(r.status_code == 201 and r.json() == first.json() for r in [*racing, late])
    fetched = (await get_when_ready(client, f"/v1/chat/sessions/{session_id}")).json()
    assert [m["content"] for m in fetched["messages"]] == ["only once", "something else"]
    assert fetched["message_count"] == 2


async def test_concurrent_writers_to_one_chat_lose_nothing_and_agree_on_order(
    stack: Stack,
) -> None:
    name, password = stack.create_user()
    tabs = [await login(stack.gateway_url, name, password) for _ in range(4)]  # four browser tabs
    session_id = await create_session(tabs[0])

    async def write(tab: int) -> list[dict[str, object]]:
        return [
            await add_message(tabs[tab], session_id, f"tab {tab} message {n}") for n in range(10)
        ]

    written = [m for batch in await asyncio.gather(*(write(t) for t in range(4))) for m in batch]

    fetched = (await get_when_ready(tabs[0], f"/v1/chat/sessions/{session_id}")).json()
    stored = fetched["messages"]
    assert len(stored) == 40
    assert fetched["message_count"] == 40
    assert sorted(m["content"] for m in stored) == sorted(str(m["content"]) for m in written)
    assert [m["id"] for m in stored] == sorted(int(str(m["id"])) for m in written)
    for tab in range(4):  # each writer's messages in the order it sent them
        mine = [m["content"] for m in stored if m["content"].startswith(f"tab {tab} ")]
        assert mine == [f"tab {tab} message {n}" for n in range(10)]
    for tab_client in tabs:
        await tab_client.aclose()
