"""/auth/login, /auth/logout, /auth/me, /auth/password"""

import secrets
from datetime import timedelta

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncConnection

from cortex_contracts.envelope import Actor
from cortex_gateway import audit
from cortex_gateway.auth import accounts, store
from cortex_gateway.auth.accounts import UserView
from cortex_gateway.auth.dependencies import CSRF_COOKIE, SESSION_COOKIE, User, UserSession
from cortex_gateway.auth.policy import (
    MAX_PASSWORD_LENGTH,
    MAX_USERNAME_LENGTH,
    PASSWORD_SCHEMA,
    password_problem,
)
from cortex_gateway.auth.secrets import (
    hash_password_off_loop,
    new_token,
    verify_password_off_loop,
)
from cortex_gateway.deps import Db, Events, SettingsDep
from cortex_gateway.openapi import NO_NUL, STATE_CHANGING, WITH_BODY, errors

router = APIRouter(prefix="/auth", tags=["auth"])

MAX_FAILURES = 5  # per account and address
MAX_ACCOUNT_FAILURES = 10  # per account, from any addresses
FAILURE_WINDOW = timedelta(minutes=15)
BAD_CREDENTIALS = "Invalid username or password."  # the same whatever was wrong
NO_STORE = {"Cache-Control": "no-store"}


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=MAX_USERNAME_LENGTH, json_schema_extra=NO_NUL)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)

    @field_validator("username")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        """No username holds one, and the database refuses to even look one up."""
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class ChangePassword(BaseModel):
    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    new_password: str = Field(json_schema_extra=PASSWORD_SCHEMA)


async def refuse_if_throttled(db: AsyncConnection, username: str, remote: str) -> None:
    """429 after MAX_FAILURES failures for this username from this address in the window, or
    MAX_ACCOUNT_FAILURES from any addresses (a guesser who rotates addresses is slowed down too)."""
    recent = await store.recent_login_failures(db, username, remote, FAILURE_WINDOW)
    blocked_since = None
    if recent.from_address >= MAX_FAILURES:
        blocked_since = recent.oldest_from_address
    elif recent.for_account >= MAX_ACCOUNT_FAILURES:
        blocked_since = recent.oldest_for_account
    if blocked_since is not None:
        retry_after = int((blocked_since + FAILURE_WINDOW - store.now()).total_seconds()) + 1
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail="Too many failed attempts. Try again later.",
            headers={"Retry-After": str(max(retry_after, 1))},
        )


async def count_failure(db: AsyncConnection, username: str, remote: str) -> None:
    """Committed now: the request fails afterwards, and the failure must still count."""
    await store.record_login_failure(db, username, remote, FAILURE_WINDOW)
    await db.commit()


@router.post("/login", responses=errors(401, 429, 503, *WITH_BODY))
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    db: Db,
    events: Events,
    settings: SettingsDep,
) -> UserView:
    remote = audit.client_addr(request)
    await refuse_if_throttled(db, body.username, remote)
    user = await store.find_user_by_name(db, body.username)
    # Always verify (against a dummy hash for unknown users): timing reveals nothing either.
    password_ok = await verify_password_off_loop(
        user["password_hash"] if user else None, body.password
    )
    if user is None or not password_ok or user["disabled"] or user["org_disabled"]:
        await count_failure(db, body.username, remote)
        await audit.record(
            events, "auth.login.failed", subject_id=body.username, remote_addr=remote
        )
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=BAD_CREDENTIALS)

    await store.clear_login_failures(db, body.username, remote)
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:  # a fresh token on every login: no session fixation, no orphaned session
        await store.revoke_login_session(db, previous)
    token, csrf_token = new_token(), secrets.token_urlsafe(32)
    await store.create_login_session(
        db, user["id"], token, csrf_token, timedelta(seconds=settings.session_max_sec)
    )
    cookie = {
        "max_age": settings.session_max_sec,
        "secure": settings.cookie_secure,
        "samesite": "lax",
        "path": "/",
    }
    response.set_cookie(SESSION_COOKIE, token, httponly=True, **cookie)  # type: ignore[arg-type]
    response.set_cookie(CSRF_COOKIE, csrf_token, httponly=False, **cookie)  # type: ignore[arg-type]
    response.headers.update(NO_STORE)
    await audit.record(
        events,
        "auth.login.succeeded",
        subject_id=user["id"],
        actor=Actor(user_id=user["id"], org_id=user["org_id"]),
        remote_addr=remote,
        username=user["username"],
    )
    found = await accounts.find_user(db, user["id"])
    assert found is not None
    return found


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=errors(*STATE_CHANGING))
async def logout(
    principal: UserSession, request: Request, db: Db, events: Events, settings: SettingsDep
) -> Response:
    await store.revoke_login_session(db, request.cookies[SESSION_COOKIE])
    await audit.record(
        events,
        "auth.logout",
        subject_id=principal.user_id,
        actor=audit.actor_of(principal),
        remote_addr=audit.client_addr(request),
    )
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=settings.cookie_secure)
    response.delete_cookie(CSRF_COOKIE, path="/", secure=settings.cookie_secure)
    return response


@router.get("/me", responses=errors(401, 503))
async def me(principal: User, db: Db) -> UserView:
    """The caller, by session cookie or API key."""
    found = await accounts.find_user(db, principal.user_id)
    assert found is not None  # the principal was just loaded from an enabled account
    return found


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(429, *STATE_CHANGING, *WITH_BODY),
)
async def change_password(
    body: ChangePassword, principal: UserSession, request: Request, db: Db, events: Events
) -> Response:
    """Change your own password; your other sessions are logged out, this one stays."""
    remote = audit.client_addr(request)
    await refuse_if_throttled(db, principal.username, remote)
    current_hash = await accounts.password_hash_of(db, principal.user_id)
    if not await verify_password_off_loop(current_hash, body.current_password):
        await count_failure(db, principal.username, remote)
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="The current password is wrong.")
    problem = password_problem(body.new_password, principal.username)
    if problem is None and body.new_password == body.current_password:
        problem = "The new password must differ from the current one."
    if problem:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail=problem)
    await accounts.set_password_hash(
        db, principal.user_id, await hash_password_off_loop(body.new_password)
    )
    await store.revoke_user_sessions(
        db, principal.user_id, keep_token=request.cookies[SESSION_COOKIE]
    )
    await audit.record_by(
        events, request, principal, "user.password_changed", subject_id=principal.user_id, by="self"
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
