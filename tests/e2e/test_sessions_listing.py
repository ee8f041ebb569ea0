"""The owner's chat-session API through the real gateway, JetStream and sessions projection:
the list of chats and its pages."""

import pytest

from tests.conftest import LoginAs
from tests.support.chat import (
    OTHER_MODEL,
    add_message,
    create_session,
    get_when_ready,
)

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
