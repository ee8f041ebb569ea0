"""The owner's chat-session API through the real gateway, JetStream and sessions projection:
deleting chats, and who may see which."""

import uuid

import httpx
import pytest

from tests.conftest import LoginAs
from tests.support.accounts import stored_events
from tests.support.chat import (
    MODEL,
    add_message,
    create_session,
    get_when_ready,
    sql,
    topology_of,
)
from tests.support.clients import api_key_client
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


async def test_deleting_a_chat_removes_it_and_its_messages(stack: Stack, login_as: LoginAs) -> None:
    client = await login_as()
    kept = await create_session(client)
    session_id = await create_session(client)
    await add_message(client, session_id, "to be deleted")

    deleted = await client.delete(f"/v1/chat/sessions/{session_id}")

    assert deleted.status_code == 204
    assert (await client.get(f"/v1/chat/sessions/{session_id}")).status_code == 404
    listed = (await get_when_ready(client, "/v1/chat/sessions")).json()["sessions"]
    assert [s["id"] for s in listed] == [kept]
    again = await client.delete(f"/v1/chat/sessions/{session_id}")
    assert again.status_code == 404
    post = await client.post(
        f"/v1/chat/sessions/{session_id}/messages", json={"role": "user", "content": "late"}
    )
    assert post.status_code == 404
    stored = sql(stack, "SELECT count(*) FROM chat_messages WHERE session_id = %s", session_id)
    assert stored == [(0,)]


async def test_clear_all_deletes_only_the_callers_chats(login_as: LoginAs) -> None:
    client = await login_as()
    other = await login_as()
    for _ in range(3):
        await add_message(client, await create_session(client), "mine")
    theirs = await create_session(other)

    cleared = await client.delete("/v1/chat/sessions")

    assert cleared.status_code == 204
    assert (await get_when_ready(client, "/v1/chat/sessions")).json()["sessions"] == []
    listed = (await get_when_ready(other, "/v1/chat/sessions")).json()["sessions"]
    assert [s["id"] for s in listed] == [theirs]
    assert (await client.delete("/v1/chat/sessions")).status_code == 204  # nothing left: fine


async def test_another_users_chat_is_not_found(login_as: LoginAs) -> None:
    owner = await login_as()
    intruder = await login_as()
    session_id = await create_session(owner)
    await add_message(owner, session_id, "private")

    answers = [
        await intruder.get(f"/v1/chat/sessions/{session_id}"),
        await intruder.post(
            f"/v1/chat/sessions/{session_id}/messages", json={"role": "user", "content": "x"}
        ),
        await intruder.delete(f"/v1/chat/sessions/{session_id}"),
    ]

    assert [a.status_code for a in answers] == [404, 404, 404]
    assert all(a.json() == {"detail": "Chat session not found."} for a in answers)
    fetched = (await get_when_ready(owner, f"/v1/chat/sessions/{session_id}")).json()
    assert [m["content"] for m in fetched["messages"]] == ["private"]


@pytest.mark.parametrize("session_id", ["not-a-uuid", "123", str(uuid.uuid4())])
async def test_unknown_or_malformed_ids_are_not_found(login_as: LoginAs, session_id: str) -> None:
    client = await login_as()

    answers = [
        await client.get(f"/v1/chat/sessions/{session_id}"),
        await client.post(
            f"/v1/chat/sessions/{session_id}/messages", json={"role": "user", "content": "x"}
        ),
        await client.delete(f"/v1/chat/sessions/{session_id}"),
    ]

    assert [a.status_code for a in answers] == [404, 404, 404]
    assert all(a.json() == {"detail": "Chat session not found."} for a in answers)


async def test_the_session_api_needs_a_logged_in_session(stack: Stack, login_as: LoginAs) -> None:
    user = await login_as()
    async with (
        httpx.AsyncClient(base_url=stack.gateway_url) as anonymous,
        api_key_client(stack.gateway_url, "ck-not-accepted-here") as with_key,
    ):
        assert (await anonymous.get("/v1/chat/sessions")).status_code == 401
        assert (await with_key.get("/v1/chat/sessions")).status_code == 401
        anonymous.cookies.update(user.cookies)
        no_csrf = await anonymous.post("/v1/chat/sessions", json={"model_name": MODEL})
    assert no_csrf.status_code == 403


async def test_deletes_and_clear_all_are_events_by_the_user(
    stack: Stack, login_as: LoginAs
) -> None:
    client = await login_as()
    me = (await client.get("/auth/me")).json()
    first, second, third = [await create_session(client) for _ in range(3)]

    assert (await client.delete(f"/v1/chat/sessions/{first}")).status_code == 204
    assert (await client.delete("/v1/chat/sessions")).status_code == 204

    topology = topology_of(stack)
    events = await stored_events(stack, topology.chat_stream, topology.chat_user_subjects(me["id"]))
    deleted = [e for e in events if e["type"] == "chat.session.deleted"]
    assert [e["aggregate_id"] for e in deleted[:1]] == [first]
    assert sorted(e["aggregate_id"] for e in deleted[1:]) == sorted([second, third])
    assert all(e["actor"] == {"user_id": me["id"], "org_id": me["org_id"]} for e in deleted)
