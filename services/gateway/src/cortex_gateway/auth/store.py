"""Database access for credentials: login sessions, API keys and failed logins.

Every per-request check is one indexed lookup by SHA-256 hash; no slow hash runs per request.
"""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cortex_gateway.auth.principal import Principal
from cortex_gateway.auth.secrets import token_hash
from cortex_gateway.tables import api_keys, auth_sessions, login_failures, orgs, users

DEFAULT_ORG = "default"
# last_seen_at / last_used_at are refreshed at most this often, not written on every request.
TOUCH_INTERVAL = timedelta(seconds=60)


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LoginSession:
    principal: Principal
    csrf_token: str


@asynccontextmanager
async def lookup_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A short autocommit connection for the per-request credential check: one lookup (and a
    rare activity stamp) needs no transaction, so no BEGIN/COMMIT round trips either."""
    async with engine.connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")


def account_enabled() -> ColumnElement[bool]:
    """The user and their organization are both enabled (join `users` and `orgs` first)."""
    return users.c.disabled.is_(False) & orgs.c.disabled.is_(False)


async def ensure_org(conn: AsyncConnection, name: str) -> str:
    existing = await conn.scalar(select(orgs.c.id).where(orgs.c.name == name))
    if existing:
        return str(existing)
    org_id = str(uuid.uuid4())
    await conn.execute(insert(orgs).values(id=org_id, name=name, created_at=now()))
    return org_id


async def find_user_by_name(conn: AsyncConnection, username: str) -> dict[str, Any] | None:
    """Usernames are unique ignoring case, so "Alice" finds "alice"."""
    row = (
        (
            await conn.execute(
                select(users, orgs.c.disabled.label("org_disabled"))
                .join(orgs, orgs.c.id == users.c.org_id)
                .where(func.lower(users.c.username) == username.lower())
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def create_user(
    conn: AsyncConnection, username: str, password_hash: str, role: str, org_id: str
) -> str:
    user_id = str(uuid.uuid4())
    await conn.execute(
        insert(users).values(
            id=user_id,
            username=username,
            password_hash=password_hash,
            role=role,
            org_id=org_id,
            disabled=False,
            created_at=now(),
        )
    )
    return user_id


async def create_login_session(
    conn: AsyncConnection, user_id: str, token: str, csrf_token: str, max_age: timedelta
) -> None:
    started = now()
    await conn.execute(
        insert(auth_sessions).values(
            token_hash=token_hash(token),
            user_id=user_id,
            csrf_token=csrf_token,
            created_at=started,
            last_seen_at=started,
            expires_at=started + max_age,
        )
    )


async def find_login_session(
    conn: AsyncConnection, token: str, idle: timedelta
) -> LoginSession | None:
    """A live session: not revoked, within its absolute lifetime and idle time, account enabled."""
    current = now()
    row = (
        (
            await conn.execute(
                select(auth_sessions, users.c.username, users.c.role, users.c.org_id)
                .join(users, users.c.id == auth_sessions.c.user_id)
                .join(orgs, orgs.c.id == users.c.org_id)
                .where(
                    auth_sessions.c.token_hash == token_hash(token),
                    auth_sessions.c.revoked_at.is_(None),
                    auth_sessions.c.expires_at > current,
                    auth_sessions.c.last_seen_at > current - idle,
                    account_enabled(),
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    # A short idle limit needs fresher activity stamps than the usual once a minute.
    if current - row["last_seen_at"] > min(TOUCH_INTERVAL, idle / 4):
        await conn.execute(
            update(auth_sessions)
            .where(auth_sessions.c.token_hash == row["token_hash"])
            .values(last_seen_at=current)
        )
    principal = Principal(
        user_id=row["user_id"],
        username=row["username"],
        role=row["role"],
        org_id=row["org_id"],
        via="cookie",
        expires_at=row["expires_at"],
    )
    return LoginSession(principal=principal, csrf_token=row["csrf_token"])


async def find_api_key(conn: AsyncConnection, key: str) -> Principal | None:
    """A usable key: not revoked, not expired, its user and organization enabled."""
    current = now()
    row = (
        (
            await conn.execute(
                select(
                    api_keys.c.id,
                    api_keys.c.last_used_at,
                    api_keys.c.expires_at,
                    users.c.id.label("user_id"),
                    users.c.username,
                    users.c.role,
                    users.c.org_id,
                )
                .join(users, users.c.id == api_keys.c.user_id)
                .join(orgs, orgs.c.id == users.c.org_id)
                .where(
                    api_keys.c.key_hash == token_hash(key),
                    api_keys.c.revoked_at.is_(None),
                    (api_keys.c.expires_at.is_(None)) | (api_keys.c.expires_at > current),
                    account_enabled(),
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    if row["last_used_at"] is None or current - row["last_used_at"] > TOUCH_INTERVAL:
        await conn.execute(
            update(api_keys).where(api_keys.c.id == row["id"]).values(last_used_at=current)
        )
    return Principal(
        user_id=row["user_id"],
        username=row["username"],
        role=row["role"],
        org_id=row["org_id"],
        via="api_key",
        api_key_id=row["id"],
        expires_at=row["expires_at"],
    )


async def revoke_login_session(conn: AsyncConnection, token: str) -> None:
    await conn.execute(
        update(auth_sessions)
        .where(
            auth_sessions.c.token_hash == token_hash(token), auth_sessions.c.revoked_at.is_(None)
        )
        .values(revoked_at=now())
    )


async def revoke_user_sessions(
    conn: AsyncConnection, user_id: str, keep_token: str | None = None
) -> None:
    """Revoke every live session of the user, except the one whose token is `keep_token`."""
    condition = (auth_sessions.c.user_id == user_id) & auth_sessions.c.revoked_at.is_(None)
    if keep_token is not None:
        condition &= auth_sessions.c.token_hash != token_hash(keep_token)
    await conn.execute(update(auth_sessions).where(condition).values(revoked_at=now()))


async def revoke_org_sessions(conn: AsyncConnection, org_id: str) -> None:
    members = select(users.c.id).where(users.c.org_id == org_id).scalar_subquery()
    await conn.execute(
        update(auth_sessions)
        .where(auth_sessions.c.user_id.in_(members), auth_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now())
    )


def throttle_key(username: str) -> str:
    """Failures count per account, whatever the capitalisation tried."""
    return username.lower()[:100]


@dataclass(frozen=True)
class RecentFailures:
    """Failed logins within the window: for the account from one address, and from anywhere."""

    from_address: int
    oldest_from_address: datetime | None
    for_account: int
    oldest_for_account: datetime | None


async def recent_login_failures(
    conn: AsyncConnection, username: str, remote_addr: str, window: timedelta
) -> RecentFailures:
    """The oldest failure of each count decides when its block ends."""
    from_address = login_failures.c.remote_addr == remote_addr
    row = (
        await conn.execute(
            select(
                func.count().filter(from_address),
                func.min(login_failures.c.failed_at).filter(from_address),
                func.count(),
                func.min(login_failures.c.failed_at),
            ).where(
                login_failures.c.username == throttle_key(username),
                login_failures.c.failed_at > now() - window,
            )
        )
    ).one()
    return RecentFailures(int(row[0]), row[1], int(row[2]), row[3])


async def record_login_failure(
    conn: AsyncConnection, username: str, remote_addr: str, window: timedelta
) -> None:
    current = now()
    # Failures older than the window no longer matter; pruning keeps the table small.
    await conn.execute(delete(login_failures).where(login_failures.c.failed_at <= current - window))
    await conn.execute(
        insert(login_failures).values(
            username=throttle_key(username), remote_addr=remote_addr, failed_at=current
        )
    )


async def clear_login_failures(conn: AsyncConnection, username: str, remote_addr: str) -> None:
    await conn.execute(
        delete(login_failures).where(
            login_failures.c.username == throttle_key(username),
            login_failures.c.remote_addr == remote_addr,
        )
    )
