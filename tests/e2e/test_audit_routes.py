"""The audit trail through the gateway: /admin/audit/export and /admin/audit/timeline for
administrators only (each access audited), and /auth/me/archive, a user's own data as one zip
holding nothing of anyone else's (docs/audit.md)."""

import asyncio
import io
import json
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.accounts import audit_events, create_key, create_user, logged_in
from tests.support.chat import MODEL, add_message, create_session, user_id_of
from tests.support.clients import login
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

PATIENCE_SEC = 60.0


@pytest.fixture
async def admin(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    client = await login(stack.gateway_url, "admin", stack.admin_password)
    yield client
    await client.aclose()


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


async def test_only_administrators_read_the_trail_and_each_reading_is_audited(
    stack: Stack, admin: httpx.AsyncClient
) -> None:
    user, password = await create_user(admin)
    async with logged_in(stack.gateway_url, user["username"], password) as session:
        refused = [
            await session.get("/admin/audit/timeline", params={"user": user["username"]}),
            await session.get("/admin/audit/export", params={"user": user["username"]}),
        ]
    admin_id = await user_id_of(admin)

    timeline = await admin.get("/admin/audit/timeline", params={"user": user["username"]})
    exported = await admin.get("/admin/audit/export", params={"user": user["id"]})

    assert [r.status_code for r in refused] == [403, 403]
    assert timeline.status_code == 200, timeline.text
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in exported.headers["content-disposition"]
    readings = [
        event
        for action in ("audit.timeline_viewed", "audit.exported")
        for event in await audit_events(stack, action)
        if event["details"].get("user_id") == user["id"]
    ]
    assert [(e["action"], e["actor"]["user_id"]) for e in readings] == [
        ("audit.timeline_viewed", admin_id),
        ("audit.exported", admin_id),
    ]


async def test_bad_filters_are_422_and_an_unknown_user_404(admin: httpx.AsyncClient) -> None:
    backwards = await admin.get(
        "/admin/audit/export",
        params={"since": "2026-05-02T00:00:00Z", "until": "2026-05-01T00:00:00Z"},
    )
    not_a_chat = await admin.get("/admin/audit/export", params={"chat": "not-a-chat-id"})
    not_a_time = await admin.get("/admin/audit/export", params={"since": "yesterday-ish"})
    unknown = await admin.get("/admin/audit/export", params={"user": "nobody-by-that-name"})
    unknown_timeline = await admin.get("/admin/audit/timeline", params={"user": "nobody-either"})
    not_a_name = await admin.get("/admin/audit/timeline", params={"user": "a*\x00b"})

    assert backwards.status_code == 422 and "since must be before until" in backwards.text
    assert not_a_chat.status_code == 422 and not_a_chat.json()["detail"]
    assert not_a_time.status_code == 422
    assert unknown.status_code == 404 and "nobody-by-that-name" in unknown.json()["detail"]
    assert unknown_timeline.status_code == 404
    assert not_a_name.status_code == 422


async def test_the_timeline_tells_what_the_user_did_and_what_an_admin_did_to_them(
    stack: Stack, admin: httpx.AsyncClient
) -> None:
    user, password = await create_user(admin)
    async with logged_in(stack.gateway_url, user["username"], password) as session:
        chat = await create_session(session, title="Trip to Porto")
        await add_message(session, chat, "What should I see?")
        assert (await session.delete(f"/v1/chat/sessions/{chat}")).status_code == 204
    key = await create_key(admin, user["id"], name="laptop")
    assert (await admin.delete(f"/admin/keys/{key['id']}")).status_code == 204
    promoted = await admin.patch(f"/admin/users/{user['id']}", json={"role": "admin"})
    assert promoted.status_code == 200, promoted.text

    response = await admin.get("/admin/audit/timeline", params={"user": user["username"]})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["user_id"], body["username"]) == (user["id"], user["username"])
    told = [(e["actor"], e["kind"], e["what"]) for e in body["entries"]]
    name = user["username"]
    assert told[:8] == [
        ("admin", "user.created", f"created the user {name} (role user)"),
        (name, "auth.login.succeeded", "logged in from 127.0.0.1"),
        (name, "chat.session.created", f"created a chat with {MODEL}"),
        (name, "chat.message.added", "wrote a message in the chat “Trip to Porto”"),
        (name, "chat.session.deleted", "deleted the chat “Trip to Porto”"),
        ("admin", "api_key.created", f"created the API key laptop ({key['prefix']}…) for {name}"),
        ("admin", "api_key.revoked", f"revoked the API key laptop ({key['prefix']}…) of {name}"),
        ("admin", "user.role_changed", f"changed the role of {name} from user to admin"),
    ]
    assert [e["by_other"] for e in body["entries"][:2]] == [True, False]


async def test_an_export_of_a_user_holds_their_chats_and_nothing_of_others(
    stack: Stack, admin: httpx.AsyncClient
) -> None:
    alice, alice_password = await create_user(admin)
    bob, bob_password = await create_user(admin)
    async with logged_in(stack.gateway_url, bob["username"], bob_password) as bob_session:
        await add_message(bob_session, await create_session(bob_session), "bob's secret")
    async with logged_in(stack.gateway_url, alice["username"], alice_password) as session:
        chat = await create_session(session)
        await add_message(session, chat, "alice's question")

    exported = await admin.get("/admin/audit/export", params={"user": alice["username"]})
    of_chat = await admin.get("/admin/audit/export", params={"chat": chat})

    lines = jsonl(exported.text)
    assert "alice's question" in exported.text and "bob's secret" not in exported.text
    assert bob["id"] not in exported.text
    chat_lines = [line for line in jsonl(of_chat.text) if line["event"]["type"].startswith("chat.")]
    assert [line["event"]["type"] for line in chat_lines] == [
        "chat.session.created",
        "chat.message.added",
    ]
    assert [line for line in lines if line["subject"] == chat_lines[0]["subject"]] == chat_lines


async def archive_of(client: httpx.AsyncClient, usage_lines: int) -> zipfile.ZipFile:
    """The caller's archive, once it holds `usage_lines` usage records (written after the
    completion's answer)."""
    deadline = asyncio.get_running_loop().time() + PATIENCE_SEC
    while True:
        response = await client.get("/auth/me/archive")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/zip"
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        found = archive.read("usage.jsonl").decode().splitlines()
        if len(found) >= usage_lines or asyncio.get_running_loop().time() > deadline:
            return archive
        await asyncio.sleep(0.5)


async def test_the_archive_holds_the_users_data_and_nothing_of_another_users(
    stack: Stack, admin: httpx.AsyncClient
) -> None:
    alice, alice_password = await create_user(admin)
    bob, bob_password = await create_user(admin)
    async with logged_in(stack.gateway_url, bob["username"], bob_password) as bob_session:
        bob_chat = await create_session(bob_session, title="Bob's plans")
        await add_message(bob_session, bob_chat, "bob-only words")
    async with logged_in(stack.gateway_url, alice["username"], alice_password) as session:
        kept = await create_session(session, title="Recipes")
        await add_message(session, kept, "How do I bake bread?")
        await add_message(session, kept, "Knead, rest, bake.", role="assistant")
        gone = await create_session(session)
        await add_message(session, gone, "Something I deleted")
        assert (await session.delete(f"/v1/chat/sessions/{gone}")).status_code == 204
        completion = await session.post(
            "/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4},
        )
        assert completion.status_code == 200, completion.text
        archive = await archive_of(session, usage_lines=1)

    names = sorted(archive.namelist())
    assert names == sorted(
        [
            "README.txt",
            f"chats/{kept}.json",
            f"chats/{gone}.json",
            "usage.jsonl",
            "security.jsonl",
            "events.jsonl",
        ]
    )
    recipes = json.loads(archive.read(f"chats/{kept}.json"))
    assert (recipes["title"], recipes["deleted"]) == ("Recipes", False)
    assert [(m["role"], m["content"]) for m in recipes["messages"]] == [
        ("user", "How do I bake bread?"),
        ("assistant", "Knead, rest, bake."),
    ]
    deleted = json.loads(archive.read(f"chats/{gone}.json"))
    assert (deleted["title"], deleted["deleted"]) == ("Something I deleted", True)
    usage = jsonl(archive.read("usage.jsonl").decode())
    assert [record["actor"]["user_id"] for record in usage] == [alice["id"]]
    security = jsonl(archive.read("security.jsonl").decode())
    assert {"user.created", "auth.login.succeeded"} <= {e["action"] for e in security}
    assert "events.jsonl" in archive.read("README.txt").decode()
    everything = b"".join(archive.read(name) for name in names).decode()
    for trace in (bob["id"], bob["username"], "bob-only words", bob_chat):
        assert trace not in everything
