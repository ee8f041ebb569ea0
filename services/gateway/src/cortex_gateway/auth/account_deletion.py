"""DELETE /auth/me: a user deletes their own account (their password confirms it)."""

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from cortex_gateway import audit
from cortex_gateway.account_erasure import delete_account
from cortex_gateway.auth import accounts
from cortex_gateway.auth.dependencies import CSRF_COOKIE, SESSION_COOKIE, UserSession
from cortex_gateway.auth.policy import MAX_PASSWORD_LENGTH
from cortex_gateway.auth.routes import count_failure, refuse_if_throttled
from cortex_gateway.auth.secrets import verify_password_off_loop
from cortex_gateway.deps import Database, Db, Events, SettingsDep
from cortex_gateway.openapi import STATE_CHANGING, WITH_BODY, errors

router = APIRouter(prefix="/auth", tags=["auth"])


class DeleteAccount(BaseModel):
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(409, 429, *STATE_CHANGING, *WITH_BODY),
)
async def delete_own_account(
    body: DeleteAccount,
    principal: UserSession,
    request: Request,
    db: Db,
    database: Database,
    events: Events,
    settings: SettingsDep,
) -> Response:
    """Deletes your account and erases your chats (download your data first). You are logged
    out; your API keys stop working. Wrong password: 401 (counted like a failed login)."""
    remote = audit.client_addr(request)
    await refuse_if_throttled(db, principal.username, remote)
    current_hash = await accounts.password_hash_of(db, principal.user_id)
    if not await verify_password_off_loop(current_hash, body.password):
        await count_failure(db, principal.username, remote)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="The password is wrong.")
    user = await accounts.find_user(db, principal.user_id)
    assert user is not None  # the session was just loaded from this enabled account
    await delete_account(database, events, request, principal, user, by="self")
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=settings.cookie_secure)
    response.delete_cookie(CSRF_COOKIE, path="/", secure=settings.cookie_secure)
    return response
