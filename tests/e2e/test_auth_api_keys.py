"""API keys: shown once, work on completions, refused on the cookie-only chat session API,
stored only as a SHA-256 hash, revocable and expiring."""

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from tests.conftest import LoginAs
from tests.support.accounts import PLACEHOLDER_ID, create_key, create_user, gateway_routes
from tests.support.backends import libpq_url
from tests.support.clients import api_key_client
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

COMPLETION = {"model": "sim-vllm-small", "messages": [{"role": "user", "content": "Say hi"}]}
TEXT_TYPES = ("text", "character varying", "character", "json", "jsonb", "ARRAY")


async def test_a_key_is_shown_once_and_listed_without_the_secret(login_as: LoginAs) -> None:
    admin = await login_as("admin")
    user, _ = await create_user(admin)
    created = await create_key(admin, user["id"], name="notebook")
    assert created["key"].startswith(created["prefix"])
    assert created["user_id"] == user["id"] and created["name"] == "notebook"
    assert created["expires_at"] is None

    listed = await admin.get("/admin/keys", params={"user_id": user["id"]})
    assert listed.status_code == 200, listed.text
    [entry] = listed.json()["keys"]
    assert entry["id"] == created["id"] and entry["prefix"] == created["prefix"]
    assert "key" not in entry
    assert created["key"] not in listed.text


async def test_a_key_authenticates_completions_without_csrf(
    stack: Stack, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    user, _ = await create_user(admin)
    key = await create_key(admin, user["id"])
    async with api_key_client(stack.gateway_url, key["key"]) as client:
        me = await client.get("/auth/me")
        assert me.status_code == 200 and me.json()["id"] == user["id"]
        answer = await client.post("/v1/chat/completions", json=COMPLETION)
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["message"]["content"]


async def test_a_key_is_refused_on_every_cookie_only_chat_session_route(
    stack: Stack, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    user, _ = await create_user(admin)
    key = await create_key(admin, user["id"])
    routes = gateway_routes("/v1/chat/sessions")
    assert ("GET", "/v1/chat/sessions") in routes and len(routes) >= 6
    async with api_key_client(stack.gateway_url, key["key"]) as client:
        for method, path in routes:
            response = await client.request(method, path)
            assert response.status_code == 401, f"{method} {path}: {response.text}"
            assert "API keys are not accepted" in response.json()["detail"]


async def test_revoked_expired_and_unknown_keys_are_refused(
    stack: Stack, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    user, _ = await create_user(admin)
    revoked = await create_key(admin, user["id"])
    soon = datetime.now(UTC) + timedelta(seconds=3)
    expiring = await create_key(admin, user["id"], expires_at=soon.isoformat())
    assert expiring["expires_at"] is not None

    assert (await admin.delete(f"/admin/keys/{revoked['id']}")).status_code == 204
    assert (await admin.delete(f"/admin/keys/{revoked['id']}")).status_code == 204  # a retry
    async with api_key_client(stack.gateway_url, revoked["key"]) as client:
        refused = await client.get("/auth/me")
        assert refused.status_code == 401
        assert refused.json()["detail"] == "Invalid, expired or revoked API key."
    listed = (await admin.get("/admin/keys", params={"user_id": user["id"]})).json()["keys"]
    assert {k["id"]: k["revoked_at"] is not None for k in listed} == {
        revoked["id"]: True,
        expiring["id"]: False,
    }

    async with api_key_client(stack.gateway_url, expiring["key"]) as client:
        assert (await client.get("/auth/me")).status_code == 200
        await asyncio.sleep(4)
        assert (await client.get("/auth/me")).status_code == 401

    async with api_key_client(stack.gateway_url, "ctx_" + "A" * 43) as client:
        assert (await client.get("/auth/me")).status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"expires_at": "2001-01-01T00:00:00Z"}, 422, "expires_at must be in the future"),
        ({"user_id": PLACEHOLDER_ID}, 422, "Unknown user"),
    ],
)
async def test_creating_a_key_explains_what_is_wrong(
    login_as: LoginAs, body: dict[str, str], status: int, detail: str
) -> None:
    admin = await login_as("admin")
    me = (await admin.get("/auth/me")).json()
    response = await admin.post("/admin/keys", json={"user_id": me["id"], **body})
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]


async def test_no_key_is_stored_in_plaintext_anywhere_in_the_database(
    stack: Stack, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    user, _ = await create_user(admin)
    key = (await create_key(admin, user["id"], name="scan me"))["key"]
    async with api_key_client(stack.gateway_url, key) as client:  # used, so it may be logged
        assert (await client.get("/auth/me")).status_code == 200
        await client.post("/v1/chat/completions", json=COMPLETION)
    hidden_part = key[len("ctx_") + 8 :]  # everything after the listed prefix

    with psycopg.connect(libpq_url(stack.database_url)) as conn:
        columns = conn.execute(
            "SELECT table_schema, table_name, column_name, data_type"
            " FROM information_schema.columns c"
            " JOIN information_schema.tables t USING (table_schema, table_name)"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            " AND t.table_type = 'BASE TABLE'"
        ).fetchall()
        scanned = 0
        for schema, table, column, data_type in columns:
            target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            name = sql.Identifier(column)
            if data_type == "bytea":
                query = sql.SQL("SELECT count(*) FROM {} WHERE position(%s IN {}) > 0")
                needles: list[bytes | str] = [key.encode(), hidden_part.encode()]
            elif data_type in TEXT_TYPES:
                query = sql.SQL("SELECT count(*) FROM {} WHERE position(%s IN {}::text) > 0")
                needles = [key, hidden_part]
            else:
                continue
            scanned += 1
            for needle in needles:
                [found] = conn.execute(query.format(target, name), (needle,)).fetchone() or [0]
                assert found == 0, f"the API key appears in {schema}.{table}.{column}"
        stored = conn.execute(
            "SELECT count(*) FROM api_keys WHERE key_hash = %s",
            (hashlib.sha256(key.encode()).digest(),),
        ).fetchone()
    assert scanned > 10  # every table of every service was looked at
    assert stored == (1,)  # what is kept is the SHA-256 of the key
