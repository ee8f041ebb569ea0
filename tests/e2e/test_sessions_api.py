"""The owner's chat-session API through the real gateway, JetStream and sessions projection."""

import asyncio
import uuid

import httpx
import pytest

from cortex_contracts.events.chat import TITLE_MAX_CHARS, UNTITLED
from tests.conftest import LoginAs
from tests.support.chat import (
    MODEL,
    OTHER_MODEL,
    add_message,
    create_session,
    get_when_ready,
    sql,
)
from tests.support.clients import api_key_client, login
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

SUMMARY_FIELDS = {
    "id",
    "title",
    "model_name",
    "engine_type",
    "message_count",
    "created_at",
    "updated_at",
}


async def test_a_new_chat_uses_the_registry_for_engine_and_constraints(login_as: LoginAs) -> None:
    client = await login_as()

    created = await client.post("/v1/chat/sessions", json={"model_name": OTHER_MODEL})

    assert created.status_code == 201, created.text
    session = created.json()
    assert uuid.UUID(session["id"])
    assert session["title"] == UNTITLED
    assert session["model_name"] == OTHER_MODEL
    assert session["engine_type"] == "llamacpp"
    assert session["constraints_json"]["served_model_name"] == OTHER_MODEL
    assert session["messages"] == []
    assert session["message_count"] == 0
    fetched = await get_when_ready(client, f"/v1/chat/sessions/{session['id']}")
    assert fetched.json() == session


async def test_creating_a_chat_for_an_unknown_model_or_without_one_is_refused(
    login_as: LoginAs,
) -> None:
    client = await login_as()

    unknown = await client.post("/v1/chat/sessions", json={"model_name": "no-such-model"})
    missing = await client.post("/v1/chat/sessions", json={})

    assert unknown.status_code == 422
    assert "no-such-model" in unknown.json()["detail"]
    assert missing.status_code == 422
    assert "model_name" in missing.json()["detail"]
    listed = await get_when_ready(client, "/v1/chat/sessions")
    assert listed.json()["sessions"] == []


async def test_messages_come_back_in_order_with_their_metrics(login_as: LoginAs) -> None:
    client = await login_as()
    session_id = await create_session(client)
    metrics = {"status": "complete", "ttft_ms": 145.0, "decode_tokens_per_s": 32.5}

    system = await add_message(client, session_id, "Be brief.", role="system")
    user = await add_message(client, session_id, "What is Python?")
    answer = await add_message(
        client, session_id, "A programming language.", role="assistant", metrics_json=metrics
    )

    fetched = (await get_when_ready(client, f"/v1/chat/sessions/{session_id}")).json()
    assert [(m["role"], m["content"]) for m in fetched["messages"]] == [
        ("system", "Be brief."),
        ("user", "What is Python?"),
        ("assistant", "A programming language."),
    ]
    assert [m["id"] for m in fetched["messages"]] == [system["id"], user["id"], answer["id"]]
    assert fetched["messages"][2]["metrics_json"] == metrics
    assert fetched["messages"][0]["metrics_json"] is None
    assert fetched["message_count"] == 3
    assert fetched["messages"][1] == user  # the POST answered what is stored
    assert all(m["session_id"] == session_id for m in fetched["messages"])


async def test_the_title_comes_from_the_first_user_message(login_as: LoginAs) -> None:
    client = await login_as()
    session_id = await create_session(client)
    long_line = "Explain how the borrow checker in Rust decides when references may overlap"

    await add_message(client, session_id, "You are helpful.", role="system")
    await add_message(client, session_id, f"\n   {long_line}  \nand more on line two")
    await add_message(client, session_id, "A second question that must not rename the chat")

    title = (await get_when_ready(client, f"/v1/chat/sessions/{session_id}")).json()["title"]
    assert title.endswith("…")
    assert len(title) <= TITLE_MAX_CHARS + 1
    assert long_line.startswith(title[:-1])
    assert long_line[len(title) - 1] == " "  # cut at a word boundary


async def test_a_title_given_at_creation_is_kept(login_as: LoginAs) -> None:
    client = await login_as()
    session_id = await create_session(client, title="My research chat")

    await add_message(client, session_id, "What is Python?")

    fetched = (await get_when_ready(client, f"/v1/chat/sessions/{session_id}")).json()
    assert fetched["title"] == "My research chat"


async def test_the_list_is_newest_activity_first_with_counts(login_as: LoginAs) -> None:
    client = await login_as()
    older = await create_session(client)
    newer = await create_session(client, model=OTHER_MODEL)
    await add_message(client, older, "bring me to the top")
    await add_message(client, older, "and count me")

    listed = await get_when_ready(client, "/v1/chat/sessions")

    assert listed.status_code == 200
    sessions = listed.json()["sessions"]
    assert [s["id"] for s in sessions] == [older, newer]
    assert all(set(s) == SUMMARY_FIELDS for s in sessions)
    assert sessions[0]["message_count"] == 2
    assert sessions[0]["title"] == "bring me to the top"
    assert sessions[1]["message_count"] == 0
    assert sessions[1]["engine_type"] == "llamacpp"
    assert sessions[0]["updated_at"] > sessions[0]["created_at"]
    assert listed.json()["next_cursor"] is None


async def test_pages_cover_every_session_once_in_order(login_as: LoginAs) -> None:
    client = await login_as()
    created = [await create_session(client) for _ in range(7)]

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await get_when_ready(client, "/v1/chat/sessions", **params)).json()
        seen += [s["id"] for s in page["sessions"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert pages == 3
    assert seen == list(reversed(created))


async def test_bad_list_parameters_are_refused(login_as: LoginAs) -> None:
    client = await login_as()

    bad_cursor = await client.get("/v1/chat/sessions", params={"cursor": "not-a-cursor"})
    zero = await client.get("/v1/chat/sessions", params={"limit": 0})
    huge = await client.get("/v1/chat/sessions", params={"limit": 10_000})

    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["detail"] == "Invalid cursor."
    assert zero.status_code == 422
    assert huge.status_code == 422


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"role": "robot", "content": "hi"}, "role"),
        ({"content": "hi"}, "role"),
        ({"role": "user"}, "content"),
        ({"role": "user", "content": "hi", "metrics_json": {"ttft_ms": 1}}, "metrics_json"),
        ({"role": "user", "content": "nul \x00 inside"}, "NUL"),
    ],
)
async def test_invalid_messages_are_refused_and_not_stored(
    login_as: LoginAs, body: dict[str, object], mentions: str
) -> None:
    client = await login_as()
    session_id = await create_session(client)

    refused = await client.post(f"/v1/chat/sessions/{session_id}/messages", json=body)

    assert refused.status_code == 422
    assert mentions in refused.json()["detail"]
    fetched = (await get_when_ready(client, f"/v1/chat/sessions/{session_id}")).json()
    assert fetched["messages"] == []


async def test_content_over_the_size_limit_is_refused(login_as: LoginAs) -> None:
    client = await login_as()
    session_id = await create_session(client)

    refused = await client.post(
        f"/v1/chat/sessions/{session_id}/messages",
        json={"role": "user", "content": "é" * (512 * 1024 + 1)},  # 1 MiB + 2 bytes of UTF-8
    )

    assert refused.status_code == 413
    assert "1048576 bytes" in refused.json()["detail"]


async def test_long_messages_are_stored_and_read_back_whole(login_as: LoginAs) -> None:
    """Three 600 kB messages: the session's answer is bigger than one NATS message."""
    client = await login_as()
    session_id = await create_session(client)
    contents = [f"{n}" + "x" * 600_000 for n in range(3)]

    for content in contents:
        await add_message(client, session_id, content)

    fetched = (await get_when_ready(client, f"/v1/chat/sessions/{session_id}")).json()
    assert [m["content"] for m in fetched["messages"]] == contents


async def test_model_lock_refuses_another_model_once_the_chat_has_a_message(
    login_as: LoginAs,
) -> None:
    client = await login_as()
    session_id = await create_session(client)
    await add_message(client, session_id, "hello", model_name=MODEL)

    refused = await client.post(
        f"/v1/chat/sessions/{session_id}/messages",
        json={"role": "user", "content": "switch", "model_name": OTHER_MODEL},
    )

    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"This chat is locked to model {MODEL}. Start a new chat to use {OTHER_MODEL}."
    )
    fetched = (await get_when_ready(client, f"/v1/chat/sessions/{session_id}")).json()
    assert [m["content"] for m in fetched["messages"]] == ["hello"]
    assert fetched["model_name"] == MODEL


async def test_before_the_first_message_the_model_can_still_change(login_as: LoginAs) -> None:
    client = await login_as()
    session_id = await create_session(client)

    await add_message(client, session_id, "hello", model_name=OTHER_MODEL)

    fetched = (await get_when_ready(client, f"/v1/chat/sessions/{session_id}")).json()
    assert fetched["model_name"] == OTHER_MODEL
    assert fetched["engine_type"] == "llamacpp"
    assert fetched["constraints_json"]["served_model_name"] == OTHER_MODEL
    locked = await client.post(
        f"/v1/chat/sessions/{session_id}/messages",
        json={"role": "user", "content": "back", "model_name": MODEL},
    )
    assert locked.status_code == 409


async def test_a_message_for_an_unknown_model_is_refused(login_as: LoginAs) -> None:
    client = await login_as()
    session_id = await create_session(client)

    refused = await client.post(
        f"/v1/chat/sessions/{session_id}/messages",
        json={"role": "user", "content": "hi", "model_name": "no-such-model"},
    )

    assert refused.status_code == 422
    assert "no-such-model" in refused.json()["detail"]


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
