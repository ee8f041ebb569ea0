"""Credential checks without a database round trip per request: cookies and API keys seen
recently are trusted for `TTL_SEC` (one indexed lookup was ~4 ms of a request's time).

Invalidation is a broadcast every gateway replica hears: each action that ends or changes a
credential is audited (logout, login, password change, role change, key revocation, disabling or
deleting a user or an organization), and every replica subscribes to those audit subjects on core
NATS. The event names the user, key or organization concerned (its `aggregate_id`); each replica
drops every entry of that identity at once, well within a second. The audit event is stored just
*before* the change commits, so for `QUIET_SEC` afterwards nothing of that identity is cached
again (a lookup in that gap could still read the old row). A key reaching its `expires_at`, or a
session its end, is honoured up to then and no later (the entry lives no longer); a change
whose broadcast was lost may be honoured up to TTL_SEC late
(core NATS is at-most-once: a replica that was disconnected meanwhile).

A credential in use is looked up again in the background during the last REFRESH_SHARE of its
time, so a busy one never expires in the middle of traffic; requests that find no entry share one
lookup per credential (no burst of queries whenever an entry expires under load).
"""

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncEngine

from cortex_contracts.topology import Topology
from cortex_gateway.auth import store
from cortex_gateway.auth.principal import Principal
from cortex_runtime.listen import Listening, listen

log = logging.getLogger(__name__)

T = TypeVar("T")

TTL_SEC = 5.0
REFRESH_SHARE = 0.2
QUIET_SEC = 5.0
MAX_ENTRIES = 10_000
# Audit actions that end or change a credential; "user.deleted" comes with account deletion.
INVALIDATING_ACTIONS = (
    "auth.logout",
    "auth.login.succeeded",  # a login revokes the session cookie it replaces
    "user.password_changed",
    "user.role_changed",
    "user.disabled",
    "user.deleted",
    "org.disabled",
    "api_key.revoked",
)


class TimedCache(Generic[T]):
    """Credential (by SHA-256 of its secret) -> what it stands for, for `ttl_sec`."""

    def __init__(self, principal_of: Callable[[T], Principal], ttl_sec: float) -> None:
        self._principal_of = principal_of
        self._ttl_sec = ttl_sec
        self._entries: dict[bytes, tuple[T, float]] = {}
        self._lookups: dict[bytes, asyncio.Task[T | None]] = {}
        self._quiet: dict[str, float] = {}  # identity -> not cached again before this time
        self._all_quiet_until = 0.0

    async def get(self, secret: str, find: Callable[[], Awaitable[T | None]]) -> T | None:
        digest = hashlib.sha256(secret.encode()).digest()
        cached = self._entries.get(digest)
        if cached is not None:
            value, expires = cached
            now = time.monotonic()
            if now < expires:
                if now >= expires - self._ttl_sec * REFRESH_SHARE and digest not in self._lookups:
                    self._look_up(find, digest)  # ahead of expiry, in the background
                return value
        lookup = self._lookups.get(digest) or self._look_up(find, digest)
        return await asyncio.shield(lookup)  # a caller that leaves does not cancel the others'

    def drop(self, identity: str) -> None:
        """Forget every entry of this user, organization or key, and keep it out a while."""
        now = time.monotonic()
        self._quiet = {k: until for k, until in self._quiet.items() if until > now}
        self._quiet[identity] = now + QUIET_SEC
        self._entries = {
            digest: entry
            for digest, entry in self._entries.items()
            if identity not in _identities(self._principal_of(entry[0]))
        }

    def invalidate(self) -> None:
        """Forget everything (and cache nothing for a while)."""
        self._entries.clear()
        self._all_quiet_until = time.monotonic() + QUIET_SEC

    def _look_up(
        self, find: Callable[[], Awaitable[T | None]], digest: bytes
    ) -> asyncio.Task[T | None]:
        task = asyncio.get_running_loop().create_task(self._fetch(find, digest))
        self._lookups[digest] = task
        task.add_done_callback(lambda _: self._lookups.pop(digest, None))
        task.add_done_callback(_seen)
        return task

    async def _fetch(self, find: Callable[[], Awaitable[T | None]], digest: bytes) -> T | None:
        found = await find()
        now = time.monotonic()  # after the lookup: one begun before an invalidation is not kept
        if found is None:
            self._entries.pop(digest, None)
        elif self._may_keep(found, now):
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[digest] = (found, now + self._lifetime(found))
        return found

    def _lifetime(self, found: T) -> float:
        """TTL, or less when the key or session ends sooner."""
        ends = self._principal_of(found).expires_at
        if ends is None:
            return self._ttl_sec
        return max(0.0, min(self._ttl_sec, (ends - datetime.now(UTC)).total_seconds()))

    def _may_keep(self, found: T, now: float) -> bool:
        if now < self._all_quiet_until:
            return False
        ids = _identities(self._principal_of(found))
        return not any(self._quiet.get(i, 0.0) > now for i in ids)


def _identities(principal: Principal) -> tuple[str, ...]:
    """What an invalidation may name: the user, their organization, the key."""
    ids = (principal.user_id, principal.org_id)
    return (*ids, principal.api_key_id) if principal.api_key_id else ids


class ApiKeyCache(TimedCache[Principal]):
    def __init__(self, ttl_sec: float = TTL_SEC) -> None:
        super().__init__(lambda principal: principal, ttl_sec)

    async def principal(self, engine: AsyncEngine, key: str) -> Principal | None:
        return await self.get(key, lambda: self.find(engine, key))

    async def find(self, engine: AsyncEngine, key: str) -> Principal | None:
        async with store.lookup_connection(engine) as conn:
            return await store.find_api_key(conn, key)


class LoginSessionCache(TimedCache[store.LoginSession]):
    def __init__(self, ttl_sec: float = TTL_SEC) -> None:
        super().__init__(lambda found: found.principal, ttl_sec)

    async def login_session(
        self, engine: AsyncEngine, token: str, idle: timedelta
    ) -> store.LoginSession | None:
        return await self.get(token, lambda: self.find(engine, token, idle))

    async def find(
        self, engine: AsyncEngine, token: str, idle: timedelta
    ) -> store.LoginSession | None:
        async with store.lookup_connection(engine) as conn:
            return await store.find_login_session(conn, token, idle)


class CredentialCache:
    """Both caches, and the broadcast that empties them on every replica."""

    def __init__(self, ttl_sec: float = TTL_SEC) -> None:
        self.api_keys = ApiKeyCache(ttl_sec)
        self.sessions = LoginSessionCache(ttl_sec)
        self._listening: Listening | None = None

    async def start(self, nc: NatsClient, topology: Topology) -> None:
        subjects = [topology.audit_subject(action) for action in INVALIDATING_ACTIONS]
        self._listening = await listen(nc, subjects, self._on_change)

    async def stop(self) -> None:
        if self._listening is not None:
            await self._listening.stop()

    async def _on_change(self, msg: Msg) -> None:
        try:
            identity = str(json.loads(msg.data)["aggregate_id"])
        except (ValueError, KeyError, TypeError):  # not readable: forget everything instead
            self.invalidate()
            return
        self.drop(identity)

    def drop(self, identity: str) -> None:
        self.api_keys.drop(identity)
        self.sessions.drop(identity)

    def invalidate(self) -> None:
        self.api_keys.invalidate()
        self.sessions.invalidate()


def _seen(task: "asyncio.Task[Any]") -> None:
    """A background refresh has nobody awaiting it: its failure is logged here."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("credential lookup failed: %r", task.exception())
