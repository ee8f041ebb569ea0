"""Users, organizations and API keys as the API shows them, and the queries that change them."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from cortex_gateway.auth.secrets import api_key_prefix, new_api_key, token_hash
from cortex_gateway.auth.store import now
from cortex_gateway.tables import api_keys, orgs, users

Role = Literal["admin", "user"]


class UserView(BaseModel):
    id: str
    username: str
    role: Role
    org_id: str
    org_name: str
    disabled: bool
    created_at: datetime


class OrgView(BaseModel):
    id: str
    name: str
    disabled: bool
    created_at: datetime


class KeyView(BaseModel):
    """An API key as listed: never the key itself, only its first characters."""

    id: str
    prefix: str
    user_id: str
    username: str
    name: str
    expires_at: datetime | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class CreatedKey(KeyView):
    key: str  # returned once, at creation; only its SHA-256 is stored


# --- users -------------------------------------------------------------------------------------


def _users_query() -> Select[tuple[object, ...]]:
    return select(
        users.c.id,
        users.c.username,
        users.c.role,
        users.c.org_id,
        orgs.c.name.label("org_name"),
        users.c.disabled,
        users.c.created_at,
    ).join(orgs, orgs.c.id == users.c.org_id)


async def find_user(conn: AsyncConnection, user_id: str) -> UserView | None:
    row = (await conn.execute(_users_query().where(users.c.id == user_id))).mappings().first()
    return UserView.model_validate(dict(row)) if row else None


async def list_users(conn: AsyncConnection, org_id: str | None = None) -> list[UserView]:
    query = _users_query().order_by(users.c.username)
    if org_id is not None:
        query = query.where(users.c.org_id == org_id)
    rows = (await conn.execute(query)).mappings().all()
    return [UserView.model_validate(dict(row)) for row in rows]


async def username_taken(conn: AsyncConnection, username: str) -> bool:
    found = await conn.scalar(
        select(users.c.id).where(func.lower(users.c.username) == username.lower())
    )
    return found is not None


async def set_user_disabled(conn: AsyncConnection, user_id: str, disabled: bool) -> None:
    await conn.execute(update(users).where(users.c.id == user_id).values(disabled=disabled))


async def set_user_role(conn: AsyncConnection, user_id: str, role: Role) -> None:
    await conn.execute(update(users).where(users.c.id == user_id).values(role=role))


async def other_active_admins(conn: AsyncConnection, user_id: str) -> int:
    """Enabled administrators besides `user_id`.

    Every administrator row is locked until the transaction ends, so two administrators demoting
    each other at the same moment cannot both succeed and leave nobody to administer.
    """
    rows = await conn.execute(
        select(users.c.id, users.c.disabled).where(users.c.role == "admin").with_for_update()
    )
    return sum(1 for row in rows if row.id != user_id and not row.disabled)


async def set_password_hash(conn: AsyncConnection, user_id: str, password_hash: str) -> None:
    await conn.execute(
        update(users).where(users.c.id == user_id).values(password_hash=password_hash)
    )


async def password_hash_of(conn: AsyncConnection, user_id: str) -> str | None:
    found = await conn.scalar(select(users.c.password_hash).where(users.c.id == user_id))
    return str(found) if found is not None else None


# --- organizations -----------------------------------------------------------------------------


async def find_org(conn: AsyncConnection, org_id: str) -> OrgView | None:
    row = (await conn.execute(select(orgs).where(orgs.c.id == org_id))).mappings().first()
    return OrgView.model_validate(dict(row)) if row else None


async def list_orgs(conn: AsyncConnection) -> list[OrgView]:
    rows = (await conn.execute(select(orgs).order_by(orgs.c.name))).mappings().all()
    return [OrgView.model_validate(dict(row)) for row in rows]


async def org_name_taken(conn: AsyncConnection, name: str) -> bool:
    found = await conn.scalar(select(orgs.c.id).where(func.lower(orgs.c.name) == name.lower()))
    return found is not None


async def create_org(conn: AsyncConnection, name: str) -> OrgView:
    org = OrgView(id=str(uuid.uuid4()), name=name, disabled=False, created_at=now())
    await conn.execute(insert(orgs).values(**org.model_dump()))
    return org


async def set_org_disabled(conn: AsyncConnection, org_id: str, disabled: bool) -> None:
    await conn.execute(update(orgs).where(orgs.c.id == org_id).values(disabled=disabled))


# --- API keys ----------------------------------------------------------------------------------


def _keys_query() -> Select[tuple[object, ...]]:
    return select(
        api_keys.c.id,
        api_keys.c.prefix,
        api_keys.c.user_id,
        users.c.username,
        api_keys.c.name,
        api_keys.c.expires_at,
        api_keys.c.created_at,
        api_keys.c.revoked_at,
        api_keys.c.last_used_at,
    ).join(users, users.c.id == api_keys.c.user_id)


async def create_key(
    conn: AsyncConnection, user: UserView, name: str, expires_at: datetime | None
) -> CreatedKey:
    key = new_api_key()
    created = CreatedKey(
        id=str(uuid.uuid4()),
        key=key,
        prefix=api_key_prefix(key),
        user_id=user.id,
        username=user.username,
        name=name,
        expires_at=expires_at,
        created_at=now(),
        revoked_at=None,
        last_used_at=None,
    )
    await conn.execute(
        insert(api_keys).values(
            id=created.id,
            key_hash=token_hash(key),
            prefix=created.prefix,
            name=name,
            user_id=user.id,
            created_at=created.created_at,
            expires_at=expires_at,
        )
    )
    return created


async def find_key(conn: AsyncConnection, key_id: str) -> KeyView | None:
    row = (await conn.execute(_keys_query().where(api_keys.c.id == key_id))).mappings().first()
    return KeyView.model_validate(dict(row)) if row else None


async def list_keys(conn: AsyncConnection, user_id: str | None = None) -> list[KeyView]:
    query = _keys_query().order_by(api_keys.c.created_at.desc())
    if user_id is not None:
        query = query.where(api_keys.c.user_id == user_id)
    rows = (await conn.execute(query)).mappings().all()
    return [KeyView.model_validate(dict(row)) for row in rows]


async def revoke_key(conn: AsyncConnection, key_id: str) -> bool:
    """True when this call revoked the key (False: it was already revoked)."""
    result = await conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now())
    )
    return result.rowcount == 1
