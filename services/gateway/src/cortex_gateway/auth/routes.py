"""/auth/login, /auth/logout, /auth/me"""

import asyncio
import secrets
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from cortex_contracts.envelope import Actor
from cortex_gateway import audit
from cortex_gateway.auth import store
from cortex_gateway.auth.dependencies import CSRF_COOKIE, SESSION_COOKIE, UserSession
from cortex_gateway.auth.secrets import new_token, verify_password
from cortex_gateway.deps import Db, State
from cortex_gateway.tables import orgs, users

router = APIRouter(prefix="/auth", tags=["auth"])

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    id: str
    username: str
    role: str
    org_id: str
    org_name: str
    disabled: bool


async def load_user(conn: Any, user_id: str) -> UserOut:
    row = (
        (
            await conn.execute(
                select(users, orgs.c.name.label("org_name"))
                .join(orgs, orgs.c.id == users.c.org_id)
                .where(users.c.id == user_id)
            )
        )
        .mappings()
        .one()
    )
    return UserOut(**{key: row[key] for key in UserOut.model_fields})


def client_addr(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/login")
async def login(
    body: LoginRequest, request: Request, response: Response, db: Db, state: State
) -> UserOut:
    remote = client_addr(request)
    failures, oldest = await store.recent_login_failures(db, body.username, remote, FAILURE_WINDOW)
    if failures >= MAX_FAILURES and oldest is not None:
        retry_after = int((oldest + FAILURE_WINDOW - store.now()).total_seconds()) + 1
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail="Too many failed logins. Try again later.",
            headers={"Retry-After": str(max(retry_after, 1))},
        )
    user = await store.find_user_by_name(db, body.username)
    password_ok = await asyncio.to_thread(
        verify_password, user["password_hash"] if user else None, body.password
    )
    if user is None or not password_ok or user["disabled"]:
        await store.record_login_failure(db, body.username, remote)
        await db.commit()
        await audit.record(state, "auth.login.failed", subject_id=body.username, remote_addr=remote)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="Invalid username or password.")

    token, csrf_token = new_token(), secrets.token_urlsafe(32)
    settings = state.settings
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
    await audit.record(
        state,
        "auth.login.succeeded",
        subject_id=user["id"],
        actor=Actor(user_id=user["id"], org_id=user["org_id"]),
        remote_addr=remote,
    )
    return await load_user(db, user["id"])


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(principal: UserSession, request: Request, db: Db, state: State) -> Response:
    await store.revoke_login_session(db, request.cookies[SESSION_COOKIE])
    await audit.record(
        state,
        "auth.logout",
        subject_id=principal.user_id,
        actor=Actor(user_id=principal.user_id, org_id=principal.org_id),
        remote_addr=client_addr(request),
    )
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/me")
async def me(principal: UserSession, db: Db) -> UserOut:
    return await load_user(db, principal.user_id)
