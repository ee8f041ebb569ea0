"""The owner's chat-session API through the real gateway, JetStream and sessions projection:
creating a chat, its messages and title, what is refused, the model lock."""

import uuid

import pytest

from cortex_contracts.events.chat import TITLE_MAX_CHARS, UNTITLED
from tests.conftest import LoginAs
from tests.support.chat import (
    MODEL,
    OTHER_MODEL,
    add_message,
    create_session,
    get_when_ready,
)

pytestmark = pytest.mark.e2e


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
