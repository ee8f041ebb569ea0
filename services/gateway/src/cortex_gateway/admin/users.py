"""Users: list, create, change the role, disable or enable, reset a password (admin role only)."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from cortex_gateway import audit
from cortex_gateway.auth import accounts, store
from cortex_gateway.auth.accounts import Role, UserView
from cortex_gateway.auth.dependencies import SESSION_COOKIE, Admin
from cortex_gateway.auth.policy import (
    PASSWORD_SCHEMA,
    USERNAME_SCHEMA,
    password_problem,
    username_problem,
)
from cortex_gateway.auth.secrets import hash_password_off_loop
from cortex_gateway.deps import Db, Events
from cortex_gateway.openapi import ADMIN, WITH_BODY, errors

router = APIRouter(prefix="/admin/users", tags=["admin"], responses=errors(*ADMIN))


class UserList(BaseModel):
    users: list[UserView]


class CreateUser(BaseModel):
    username: str = Field(json_schema_extra=USERNAME_SCHEMA)
    password: str = Field(json_schema_extra=PASSWORD_SCHEMA)
    role: Role = "user"
    org_id: str | None = Field(default=None, description="default: the 'default' organization")


class UpdateUser(BaseModel):
    role: Role


class ResetPassword(BaseModel):
    password: str = Field(json_schema_extra=PASSWORD_SCHEMA)


def unprocessable(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail=detail)


async def existing_user(db: AsyncConnection, user_id: str) -> UserView:
    found = await accounts.find_user(db, user_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="User not found.")
    return found


@router.get("", responses=errors(422))
async def list_users(
    _: Admin, db: Db, org_id: Annotated[str | None, Query(max_length=36)] = None
) -> UserList:
    return UserList(users=await accounts.list_users(db, org_id))


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(409, *WITH_BODY))
async def create_user(
    body: CreateUser, admin: Admin, request: Request, db: Db, events: Events
) -> UserView:
    problem = username_problem(body.username) or password_problem(body.password, body.username)
    if problem:
        raise unprocessable(problem)
    org_id = body.org_id or await store.ensure_org(db, store.DEFAULT_ORG)
    if await accounts.find_org(db, org_id) is None:
        raise unprocessable(f"Unknown organization {org_id!r}.")
    taken = HTTPException(
        status.HTTP_409_CONFLICT, detail=f"The username {body.username!r} is already taken."
    )
    if await accounts.username_taken(db, body.username):
        raise taken
    password_hash = await hash_password_off_loop(body.password)
    try:
        user_id = await store.create_user(db, body.username, password_hash, body.role, org_id)
    except IntegrityError:  # created concurrently under the same name
        raise taken from None
    created = await existing_user(db, user_id)
    await audit.record_by(
        events,
        request,
        admin,
        "user.created",
        subject_id=user_id,
        username=created.username,
        role=created.role,
        org_id=created.org_id,
    )
    return created


@router.get("/{user_id}", responses=errors(404))
async def get_user(user_id: str, _: Admin, db: Db) -> UserView:
    return await existing_user(db, user_id)


@router.patch("/{user_id}", responses=errors(404, 409, *WITH_BODY))
async def update_user(
    user_id: str, body: UpdateUser, admin: Admin, request: Request, db: Db, events: Events
) -> UserView:
    """Changes the role; it applies to the user's next request (their sessions stay open)."""
    user = await existing_user(db, user_id)
    if body.role == user.role:
        return user
    if user.role == "admin" and await accounts.other_active_admins(db, user_id) == 0:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail="This is the last administrator: make another user an administrator first.",
        )
    await audit.record_by(
        events,
        request,
        admin,
        "user.role_changed",
        subject_id=user_id,
        username=user.username,
        previous_role=user.role,
        role=body.role,
    )
    await accounts.set_user_role(db, user_id, body.role)
    return await existing_user(db, user_id)


@router.post("/{user_id}/disable", responses=errors(404, 409))
async def disable_user(
    user_id: str, admin: Admin, request: Request, db: Db, events: Events
) -> UserView:
    """The user can no longer log in; their sessions end now and their API keys stop working."""
    user = await existing_user(db, user_id)
    if user.id == admin.user_id:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="You cannot disable your own account.")
    await accounts.set_user_disabled(db, user_id, True)
    await store.revoke_user_sessions(db, user_id)
    if not user.disabled:
        await audit.record_by(
            events, request, admin, "user.disabled", subject_id=user_id, username=user.username
        )
    return await existing_user(db, user_id)


@router.post("/{user_id}/enable", responses=errors(404))
async def enable_user(
    user_id: str, admin: Admin, request: Request, db: Db, events: Events
) -> UserView:
    user = await existing_user(db, user_id)
    await accounts.set_user_disabled(db, user_id, False)
    if user.disabled:
        await audit.record_by(
            events, request, admin, "user.enabled", subject_id=user_id, username=user.username
        )
    return await existing_user(db, user_id)


@router.post(
    "/{user_id}/password", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, *WITH_BODY)
)
async def reset_password(
    user_id: str, body: ResetPassword, admin: Admin, request: Request, db: Db, events: Events
) -> Response:
    """Sets a new password and ends the user's sessions (their API keys keep working)."""
    user = await existing_user(db, user_id)
    problem = password_problem(body.password, user.username)
    if problem:
        raise unprocessable(problem)
    await accounts.set_password_hash(db, user_id, await hash_password_off_loop(body.password))
    # An administrator resetting their own password stays logged in here.
    own_session = request.cookies.get(SESSION_COOKIE) if user_id == admin.user_id else None
    await store.revoke_user_sessions(db, user_id, keep_token=own_session)
    await audit.record_by(
        events,
        request,
        admin,
        "user.password_changed",
        subject_id=user_id,
        username=user.username,
        by="admin",
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
