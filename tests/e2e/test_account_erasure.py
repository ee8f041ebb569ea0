"""Deleting a user erases their chats from every stream, bucket and table; the audit trail and
the usage counts stay; the chain still verifies and a rebuild agrees. Retention erases old chats
on its schedule."""

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.js import JetStreamContext

from cortex_audit.verify import verify_integrity
from tests.support.accounts import (
    audit_events,
    create_key,
    create_user,
    logged_in,
    session_token,
    with_session_cookie,
)
from tests.support.backends import Backends, fresh_database
from tests.support.chat import (
    MODEL,
    add_message,
    create_session,
    get_when_ready,
    nats_of,
    snapshot,
    sql,
    topology_of,
)
from tests.support.clients import api_key_client, login
from tests.support.erasure import (
    publish_old_chat,
    publish_rejected_message,
    streams_holding,
    tables_holding,
    until,
)
from tests.support.processes import run_command
from tests.support.stack import Stack, base_env, running_stack

pytestmark = pytest.mark.e2e

RETENTION_INTERVAL_SEC = 1


@pytest.fixture(scope="module")
def erasure_stack(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of its own: its streams and tables hold only this module's data, so every chain
    must verify and the usage totals are this module's."""
    with fresh_database(backends.postgres_url) as database_url:
        env = base_env(backends.nats_url, database_url)
        env["CORTEX_GATEWAY_RETENTION_INTERVAL_SEC"] = str(RETENTION_INTERVAL_SEC)
        with running_stack(env, Path(tmp_path_factory.mktemp("erasure-stack"))) as stack:
            yield stack


@pytest.fixture
async def admin(erasure_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    client = await login(erasure_stack.gateway_url, "admin", erasure_stack.admin_password)
    yield client
    await client.aclose()


@pytest.fixture
async def js(erasure_stack: Stack) -> AsyncIterator[JetStreamContext]:
    async with nats_of(erasure_stack) as client:
        yield client.jetstream()


def usage_totals(stack: Stack, org_id: str) -> tuple[Any, ...]:
    records = sql(
        stack,
        "SELECT count(*), sum(total_tokens), sum(prompt_tokens) FROM usage_records"
        " WHERE org_id = %s",
        org_id,
    )
    hourly = sql(stack, "SELECT sum(requests), sum(total_tokens) FROM usage_hourly")
    return records[0] + hourly[0]


def usage_recorded(stack: Stack, org_id: str) -> bool:
    records, _, _, hourly_requests, _ = usage_totals(stack, org_id)
    return bool(records) and hourly_requests == records


async def complete(api: httpx.AsyncClient, text: str) -> None:
    answer = await api.post(
        "/v1/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": text}], "max_tokens": 8},
    )
    assert answer.status_code == 200, answer.text


async def integrity_findings(js: JetStreamContext, stack: Stack) -> list[str]:
    reports = await verify_integrity(js, topology_of(stack))
    return [str(finding) for report in reports for finding in report.findings]


async def test_deleting_a_user_leaves_no_trace_of_their_chats(
    erasure_stack: Stack, admin: httpx.AsyncClient, js: JetStreamContext
) -> None:
    stack, topology = erasure_stack, topology_of(erasure_stack)
    marker = f"erase-me-{secrets.token_hex(8)}"
    user, password = await create_user(admin)
    key = await create_key(admin, user["id"])
    async with logged_in(stack.gateway_url, user["username"], password) as client:
        chats = []
        for n in range(2):
            chat = await create_session(client)
            await add_message(client, chat, f"{marker} question {n}")
            await add_message(client, chat, f"the answer to {marker}", role="assistant")
            chats.append(chat)
        async with api_key_client(stack.gateway_url, key["key"]) as api:
            await complete(api, f"{marker} through the API")
        # A comparison's events hold its prompts (and its title) outside the chat subjects.
        comparison = await client.post(
            "/v1/comparisons", json={"panes": [{"model_name": MODEL}, {"model_name": MODEL}]}
        )
        assert comparison.status_code == 201, comparison.text
        turn = await client.post(
            f"/v1/comparisons/{comparison.json()['id']}/turns", json={"prompt": f"{marker} both"}
        )
        assert turn.status_code == 201, turn.text
        # So do the inspector's presets (a shared one too).
        preset = await client.post(
            "/v1/presets",
            json={"name": "team", "shared": True, "preset": {"system_prompt": f"{marker} sys"}},
        )
        assert preset.status_code == 201, preset.text
        await publish_rejected_message(
            js, topology, user_id=user["id"], org_id=user["org_id"], text=f"{marker} parked"
        )
        for chat in chats:
            shown = await get_when_ready(client, f"/v1/chat/sessions/{chat}")
            assert marker in shown.text
        await until(lambda: _has_dead_letter_copy(js, marker), "the rejected message's copy")
        await until(lambda: usage_recorded(stack, user["org_id"]), "the usage record, rolled up")
        usage_before = usage_totals(stack, user["org_id"])
        token = session_token(client)
        assert await streams_holding(js, marker) and tables_holding(stack, marker)

        deleted = await admin.delete(f"/admin/users/{user['id']}")

    assert deleted.status_code == 204, deleted.text
    async with with_session_cookie(stack.gateway_url, token) as old_cookie:
        assert (await old_cookie.get("/auth/me")).status_code == 401
    async with api_key_client(stack.gateway_url, key["key"]) as old_key:
        assert (await old_key.get("/v1/models")).status_code == 401
    assert (await admin.get(f"/admin/users/{user['id']}")).status_code == 404

    async def nothing_left() -> bool:
        return not await streams_holding(js, marker) and not tables_holding(stack, marker)

    await until(nothing_left, "the marker gone from every stream, bucket and table")
    assert await integrity_findings(js, stack) == []
    assert usage_totals(stack, user["org_id"]) == usage_before

    live = snapshot(stack)
    rebuilt = await asyncio.to_thread(run_command, "sessions", "rebuild", stack.env)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert snapshot(stack) == live

    admin_id = (await admin.get("/auth/me")).json()["id"]
    [event] = [
        e for e in await audit_events(stack, "user.deleted") if e["aggregate_id"] == user["id"]
    ]
    assert event["actor"]["user_id"] == admin_id
    assert event["occurred_at"] and event["details"]["by"] == "admin"
    assert marker not in str(event)


async def _has_dead_letter_copy(js: JetStreamContext, marker: str) -> bool:
    return any("_DLQ" in where for where in await streams_holding(js, marker))


async def test_a_user_deletes_their_own_account_with_their_password(
    erasure_stack: Stack, admin: httpx.AsyncClient, js: JetStreamContext
) -> None:
    stack = erasure_stack
    marker = f"mine-{secrets.token_hex(8)}"
    user, password = await create_user(admin)
    key = await create_key(admin, user["id"])
    async with logged_in(stack.gateway_url, user["username"], password) as client:
        chat = await create_session(client)
        await add_message(client, chat, f"{marker} private thoughts")
        assert marker in (await get_when_ready(client, f"/v1/chat/sessions/{chat}")).text
        token = session_token(client)

        wrong = await client.request("DELETE", "/auth/me", json={"password": "not-my-password"})
        missing = await client.request("DELETE", "/auth/me", json={})
        assert (wrong.status_code, missing.status_code) == (401, 422), wrong.text + missing.text
        assert (await client.get(f"/v1/chat/sessions/{chat}")).status_code == 200

        deleted = await client.request("DELETE", "/auth/me", json={"password": password})

    assert deleted.status_code == 204, deleted.text
    async with with_session_cookie(stack.gateway_url, token) as old_cookie:
        assert (await old_cookie.get("/auth/me")).status_code == 401
    async with api_key_client(stack.gateway_url, key["key"]) as old_key:
        assert (await old_key.get("/v1/models")).status_code == 401
    failed_login = await stack_login_status(stack, user["username"], password)
    assert failed_login == 401

    async def nothing_left() -> bool:
        return not await streams_holding(js, marker) and not tables_holding(stack, marker)

    await until(nothing_left, "the marker gone from every stream, bucket and table")
    [event] = [
        e for e in await audit_events(stack, "user.deleted") if e["aggregate_id"] == user["id"]
    ]
    assert event["actor"]["user_id"] == user["id"] and event["details"]["by"] == "self"


async def stack_login_status(stack: Stack, username: str, password: str) -> int:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        response = await client.post(
            "/auth/login", json={"username": username, "password": password}
        )
        return response.status_code


async def test_the_last_administrator_cannot_be_deleted(
    erasure_stack: Stack, admin: httpx.AsyncClient
) -> None:
    me = (await admin.get("/auth/me")).json()
    others = [u for u in (await admin.get("/admin/users")).json()["users"] if u["role"] == "admin"]
    assert [u["id"] for u in others] == [me["id"]]

    by_admin = await admin.delete(f"/admin/users/{me['id']}")
    by_self = await admin.request(
        "DELETE", "/auth/me", json={"password": erasure_stack.admin_password}
    )

    assert (by_admin.status_code, by_self.status_code) == (409, 409), by_admin.text
    assert "last administrator" in by_admin.json()["detail"]
    assert (await admin.get("/auth/me")).status_code == 200


async def test_retention_erases_old_chats_on_its_schedule_and_keeps_new_ones(
    erasure_stack: Stack, admin: httpx.AsyncClient, js: JetStreamContext
) -> None:
    stack, topology = erasure_stack, topology_of(erasure_stack)
    assert (await admin.get("/admin/retention")).json()["default_days"] is None  # off by default
    await asyncio.sleep(3 * RETENTION_INTERVAL_SEC)
    assert await audit_events(stack, "retention.applied") == []  # no runs while off
    org = await admin.post("/admin/orgs", json={"name": f"short-memory-{secrets.token_hex(4)}"})
    assert org.status_code == 201, org.text
    org_id = org.json()["id"]
    user, password = await create_user(admin, org_id=org_id)
    old_text, new_text = f"old-{secrets.token_hex(8)}", f"new-{secrets.token_hex(8)}"
    async with logged_in(stack.gateway_url, user["username"], password) as client:
        new_chat = await create_session(client)
        await add_message(client, new_chat, new_text)
        old_chat = await publish_old_chat(
            js, topology, user_id=user["id"], org_id=org_id, text=old_text, days_ago=30
        )
        assert old_text in (await get_when_ready(client, f"/v1/chat/sessions/{old_chat}")).text

        policy = await admin.put("/admin/retention", json={"org_days": {org_id: 7}})
        assert policy.status_code == 200, policy.text
        try:
            runs = await until(
                lambda: _runs_that_erased(stack), "a retention run that erased a chat"
            )
            gone = await until(
                lambda: _status(client, f"/v1/chat/sessions/{old_chat}", 404), "the old chat gone"
            )
            assert gone
            kept = await client.get(f"/v1/chat/sessions/{new_chat}")
            assert kept.status_code == 200 and new_text in kept.text
        finally:
            assert (await admin.put("/admin/retention", json={})).status_code == 200

    assert runs[0]["details"]["chats_erased"] == 1
    assert runs[0]["details"]["policy"]["org_days"] == {org_id: 7}
    await until(lambda: _no_trace(js, stack, old_text), "the old chat's text gone everywhere")
    assert await streams_holding(js, new_text)
    changes = await audit_events(stack, "retention.changed")
    assert changes and changes[-1]["details"]["org_days"] == {}
    assert await integrity_findings(js, stack) == []


async def _runs_that_erased(stack: Stack) -> list[dict[str, Any]]:
    return [
        e for e in await audit_events(stack, "retention.applied") if e["details"]["chats_erased"]
    ]


async def _status(client: httpx.AsyncClient, url: str, wanted: int) -> bool:
    return (await client.get(url)).status_code == wanted


async def _no_trace(js: JetStreamContext, stack: Stack, text: str) -> bool:
    return not await streams_holding(js, text) and not tables_holding(stack, text)


async def deletions_of(stack: Stack, user_id: str) -> list[dict[str, Any]]:
    return [e for e in await audit_events(stack, "user.deleted") if e["aggregate_id"] == user_id]
