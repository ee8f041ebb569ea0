"""The API-key cache's timing rules (auth/cache.py), with the database lookup replaced
by a counted one: one lookup per key at a time, refreshed before it expires."""

import asyncio
from typing import Any, cast

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cortex_gateway.auth.cache import ApiKeyCache
from cortex_gateway.auth.principal import Principal

pytestmark = pytest.mark.unit

ALICE = Principal(user_id="u1", username="alice", role="user", org_id="o1", via="api_key")
TTL = 0.5
NO_ENGINE = cast(AsyncEngine, None)  # find() below never uses it


class CountedCache(ApiKeyCache):
    def __init__(self) -> None:
        super().__init__(ttl_sec=TTL)
        self.lookups = 0
        self.answer: Principal | None = ALICE
        self.release = asyncio.Event()
        self.release.set()

    async def find(self, engine: Any, key: str) -> Principal | None:
        self.lookups += 1
        await self.release.wait()
        return self.answer


async def test_requests_that_find_no_entry_share_one_lookup() -> None:
    cache = CountedCache()
    cache.release.clear()
    waiting = [asyncio.ensure_future(cache.principal(NO_ENGINE, "ctx_key")) for _ in range(20)]
    await asyncio.sleep(0.01)
    cache.release.set()

    assert await asyncio.gather(*waiting) == [ALICE] * 20
    assert cache.lookups == 1


async def test_a_busy_key_is_looked_up_again_before_it_expires_without_waiting() -> None:
    cache = CountedCache()
    assert await cache.principal(NO_ENGINE, "ctx_key") == ALICE
    await asyncio.sleep(TTL * 0.9)  # in the last part of its time
    cache.release.clear()  # the refresh hangs: the request must not wait for it

    assert await asyncio.wait_for(cache.principal(NO_ENGINE, "ctx_key"), 0.05) == ALICE
    assert cache.lookups == 2
    cache.release.set()
    await asyncio.sleep(TTL * 0.5)  # past the first entry's expiry: the refreshed one serves
    assert await asyncio.wait_for(cache.principal(NO_ENGINE, "ctx_key"), 0.05) == ALICE
    assert cache.lookups == 2


async def test_a_key_revoked_meanwhile_is_refused_after_the_refresh() -> None:
    cache = CountedCache()
    await cache.principal(NO_ENGINE, "ctx_key")
    await asyncio.sleep(TTL * 0.9)
    cache.answer = None  # revoked in the database
    await cache.principal(NO_ENGINE, "ctx_key")  # still valid: served, refreshed
    await asyncio.sleep(0.01)

    assert await cache.principal(NO_ENGINE, "ctx_key") is None


async def test_a_lookup_begun_before_an_invalidation_is_not_cached() -> None:
    cache = CountedCache()
    cache.release.clear()
    lookup = asyncio.ensure_future(cache.principal(NO_ENGINE, "ctx_key"))
    await asyncio.sleep(0.01)
    cache.invalidate()  # e.g. the key's user was disabled meanwhile
    cache.release.set()
    await lookup
    await cache.principal(NO_ENGINE, "ctx_key")

    assert cache.lookups == 2


async def test_a_caller_that_leaves_does_not_cancel_the_shared_lookup() -> None:
    cache = CountedCache()
    cache.release.clear()
    leaving = asyncio.ensure_future(cache.principal(NO_ENGINE, "ctx_key"))
    staying = asyncio.ensure_future(cache.principal(NO_ENGINE, "ctx_key"))
    await asyncio.sleep(0.01)
    leaving.cancel()
    cache.release.set()

    assert await staying == ALICE
    assert cache.lookups == 1


async def test_dropping_one_user_keeps_the_others_and_does_not_recache_them_at_once() -> None:
    cache = CountedCache()
    bob = Principal(user_id="u2", username="bob", role="user", org_id="o1", via="api_key")
    await cache.principal(NO_ENGINE, "alice_key")
    cache.answer = bob
    await cache.principal(NO_ENGINE, "bob_key")
    assert cache.lookups == 2

    cache.drop("u1")  # alice logged out, was disabled, ...
    assert await cache.principal(NO_ENGINE, "bob_key") == bob  # still cached
    assert cache.lookups == 2
    cache.answer = ALICE
    await cache.principal(NO_ENGINE, "alice_key")
    await cache.principal(NO_ENGINE, "alice_key")  # her change may not be committed yet: ask again
    assert cache.lookups == 4


async def test_dropping_an_organization_drops_its_members() -> None:
    cache = CountedCache()
    await cache.principal(NO_ENGINE, "alice_key")
    cache.drop("o1")
    await cache.principal(NO_ENGINE, "alice_key")
    assert cache.lookups == 2
