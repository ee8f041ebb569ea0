"""Credentials are cached by every gateway (auth/cache.py), and still a revoked key, a logged-out
cookie, a disabled user or a changed password is refused by every gateway within a second."""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from tests.conftest import LoginAs
from tests.support.accounts import create_key, create_user, logged_in, session_token
from tests.support.accounts import with_session_cookie as cookie_client
from tests.support.clients import api_key_client
from tests.support.processes import ServiceProcess
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

DEADLINE_SEC = 1.0  # the bound the cache promises; polled, so a loaded machine only slows it


@pytest.fixture(scope="module")
async def second_gateway(stack: Stack) -> AsyncIterator[ServiceProcess]:
    gateway = await asyncio.to_thread(stack.start_extra, "gateway")
    yield gateway
    await asyncio.to_thread(gateway.stop)


async def refused_everywhere_within(
    deadline_sec: float, *checks: Callable[[], Awaitable[httpx.Response]]
) -> float:
    """Seconds until every check answers 401 (asserts that it happens within the deadline)."""
    started = time.monotonic()
    pending = list(checks)
    while pending:
        pending = [c for c in pending if (await c()).status_code != 401]
        elapsed = time.monotonic() - started
        assert not pending or elapsed < deadline_sec, f"still accepted after {elapsed:.2f} s"
    return time.monotonic() - started


async def test_a_revoked_key_is_refused_by_both_gateways_within_a_second(
    stack: Stack, second_gateway: ServiceProcess, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    user, _ = await create_user(admin)
    key = (await create_key(admin, user["id"]))["key"]
    async with (
        api_key_client(stack.gateway_url, key) as first,
        api_key_client(second_gateway.url, key) as second,
    ):
        for client in (first, second):  # both gateways now hold the key in their cache
            assert (await client.get("/auth/me")).status_code == 200
            assert (await client.get("/auth/me")).status_code == 200
        [listed] = (await admin.get("/admin/keys", params={"user_id": user["id"]})).json()["keys"]
        assert (await admin.delete(f"/admin/keys/{listed['id']}")).status_code == 204

        await refused_everywhere_within(
            DEADLINE_SEC, lambda: first.get("/auth/me"), lambda: second.get("/auth/me")
        )


async def test_a_logged_out_cookie_is_refused_by_both_gateways_within_a_second(
    stack: Stack, second_gateway: ServiceProcess
) -> None:
    name, password = stack.create_user()
    async with logged_in(stack.gateway_url, name, password) as session:
        token = session_token(session)
        async with (
            cookie_client(stack.gateway_url, token) as first,
            cookie_client(second_gateway.url, token) as second,
        ):
            for client in (first, second):
                assert (await client.get("/auth/me")).status_code == 200
            session.headers["X-CSRF-Token"] = session.cookies["cortex_csrf"]
            assert (await session.post("/auth/logout")).status_code == 204

            await refused_everywhere_within(
                DEADLINE_SEC, lambda: first.get("/auth/me"), lambda: second.get("/auth/me")
            )


async def test_disabling_a_user_ends_their_cached_cookie_and_key_on_both_gateways(
    stack: Stack, second_gateway: ServiceProcess, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    user, password = await create_user(admin)
    key = (await create_key(admin, user["id"]))["key"]
    async with logged_in(second_gateway.url, user["username"], password) as session:
        token = session_token(session)
        async with (
            cookie_client(stack.gateway_url, token) as by_cookie,
            api_key_client(second_gateway.url, key) as by_key,
        ):
            assert (await by_cookie.get("/auth/me")).status_code == 200
            assert (await by_key.get("/auth/me")).status_code == 200
            disabled = await admin.post(f"/admin/users/{user['id']}/disable")
            assert disabled.status_code == 200, disabled.text

            await refused_everywhere_within(
                DEADLINE_SEC, lambda: by_cookie.get("/auth/me"), lambda: by_key.get("/auth/me")
            )


async def test_a_cached_credential_of_someone_else_keeps_working_after_a_logout(
    stack: Stack, second_gateway: ServiceProcess
) -> None:
    """Invalidation is per user: one user's logout does not log anyone else out."""
    alice, alice_password = stack.create_user()
    bob, bob_password = stack.create_user()
    async with (
        logged_in(second_gateway.url, alice, alice_password) as alice_client,
        logged_in(second_gateway.url, bob, bob_password) as bob_client,
    ):
        assert (await bob_client.get("/auth/me")).status_code == 200
        alice_client.headers["X-CSRF-Token"] = alice_client.cookies["cortex_csrf"]
        assert (await alice_client.post("/auth/logout")).status_code == 204
        await asyncio.sleep(0.2)
        assert (await bob_client.get("/auth/me")).status_code == 200
