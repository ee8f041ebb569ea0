"""Login throttling cannot be dodged by claiming other addresses in X-Forwarded-For, and a guesser
who really comes from many addresses is throttled per account."""

import httpx
import pytest

from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

WRONG = "wrong password!"


async def attempt(
    client: httpx.AsyncClient, username: str, password: str, forwarded_for: str
) -> httpx.Response:
    return await client.post(
        "/auth/login",
        json={"username": username, "password": password},
        headers={"X-Forwarded-For": forwarded_for},
    )


def assert_throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Too many" in response.json()["detail"]
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60


async def test_a_forged_forwarded_for_from_an_untrusted_client_changes_nothing(
    stack: Stack,
) -> None:
    """No proxy is trusted by default: every attempt counts for the address that really sent it."""
    username, password = stack.create_user()
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        statuses = [
            (await attempt(client, username, WRONG, f"198.51.100.{n}")).status_code
            for n in range(12)
        ]
        assert statuses == [401] * 5 + [429] * 7
        assert_throttled(await attempt(client, username, password, "198.51.100.99"))


async def test_behind_a_trusted_proxy_the_account_is_throttled_across_addresses(
    stack: Stack,
) -> None:
    gateway = stack.start_extra("gateway", CORTEX_GATEWAY_TRUSTED_PROXIES="127.0.0.1")
    username, password = stack.create_user()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
        statuses = [
            (await attempt(client, username, WRONG, f"203.0.113.{n}")).status_code
            for n in range(12)
        ]
        assert statuses == [401] * 10 + [429] * 2
        assert_throttled(await attempt(client, username, password, "203.0.113.99"))

        # The proxy's addresses are believed: one blocked address leaves the others alone.
        other, other_password = stack.create_user()
        for _ in range(5):
            assert (await attempt(client, other, WRONG, "192.0.2.1")).status_code == 401
        assert_throttled(await attempt(client, other, other_password, "192.0.2.1"))
        welcome = await attempt(client, other, other_password, "192.0.2.2")
        assert welcome.status_code == 200, welcome.text
