"""Database access for accounts, login sessions and API keys."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from cortex_gateway.auth.principal import Principal
from cortex_gateway.auth.secrets import token_hash
from cortex_gateway.tables import api_keys, auth_sessions, login_failures, orgs, users

DEFAULT_ORG = "default"


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LoginSession:
    principal: Principal
    csrf_token: str


async def ensure_org(conn: AsyncConnection, name: str) -> str:
    existing = await conn.scalar(select(orgs.c.id).where(orgs.c.name == name))
    if existing:
        return str(existing)
    org_id = str(uuid.uuid4())
    await conn.execute(insert(orgs).values(id=org_id, name=name, created_at=now()))
    return org_id


async def find_user_by_name(conn: AsyncConnection, username: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(users).where(users.c.username == username))).mappings().first()
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
    """A live session: not revoked, within its absolute lifetime and idle time, user enabled."""
    current = now()
    row = (
        (
            await conn.execute(
                select(auth_sessions, users.c.username, users.c.role, users.c.org_id)
                .join(users, users.c.id == auth_sessions.c.user_id)
                .where(
                    auth_sessions.c.token_hash == token_hash(token),
                    auth_sessions.c.revoked_at.is_(None),
                    auth_sessions.c.expires_at > current,
                    auth_sessions.c.last_seen_at > current - idle,
                    users.c.disabled.is_(False),
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    if current - row["last_seen_at"] > timedelta(seconds=60):  # one write a minute, not per request
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
    )
    return LoginSession(principal=principal, csrf_token=row["csrf_token"])


async def find_api_key(conn: AsyncConnection, key: str) -> Principal | None:
    current = now()
    row = (
        (
            await conn.execute(
                select(
                    api_keys.c.id,
                    users.c.id.label("user_id"),
                    users.c.username,
                    users.c.role,
                    users.c.org_id,
                )
                .join(users, users.c.id == api_keys.c.user_id)
                .where(
                    api_keys.c.key_hash == token_hash(key),
                    api_keys.c.revoked_at.is_(None),
                    (api_keys.c.expires_at.is_(None)) | (api_keys.c.expires_at > current),
                    users.c.disabled.is_(False),
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    return Principal(
        user_id=row["user_id"],
        username=row["username"],
        role=row["role"],
        org_id=row["org_id"],
        via="api_key",
        api_key_id=row["id"],
    )


async def revoke_login_session(conn: AsyncConnection, token: str) -> None:
    await conn.execute(
        update(auth_sessions)
        .where(
            auth_sessions.c.token_hash == token_hash(token), auth_sessions.c.revoked_at.is_(None)
        )
        .values(revoked_at=now())
    )


async def revoke_user_sessions(conn: AsyncConnection, user_id: str) -> None:
    await conn.execute(
        update(auth_sessions)
        .where(auth_sessions.c.user_id == user_id, auth_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now())
    )


async def recent_login_failures(
    conn: AsyncConnection, username: str, remote_addr: str, window: timedelta
) -> tuple[int, datetime | None]:
    """How many failures in the window, and the oldest of them (it decides when the block ends)."""
    row = (
        await conn.execute(
            select(func.count(), func.min(login_failures.c.failed_at)).where(
                and_(
                    login_failures.c.username == username,
                    login_failures.c.remote_addr == remote_addr,
                    login_failures.c.failed_at > now() - window,
                )
            )
        )
    ).one()
    return int(row[0]), row[1]


async def record_login_failure(conn: AsyncConnection, username: str, remote_addr: str) -> None:
    await conn.execute(
        insert(login_failures).values(username=username, remote_addr=remote_addr, failed_at=now())
    )
