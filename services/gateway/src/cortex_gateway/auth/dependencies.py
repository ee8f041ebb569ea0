"""`require_user_session` (cookie only), `require_user` (cookie or API key), `require_admin`
(cookie only: an API key is for completions and models, so a leaked key cannot administer)."""

import hmac
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from cortex_gateway.auth.cache import CredentialCache
from cortex_gateway.auth.principal import Principal
from cortex_gateway.deps import Database, SettingsDep, from_app_state

# Cookies and API keys seen in the last seconds (cache.py): no database round trip per request.
Credentials = Annotated[CredentialCache, from_app_state("credentials")]

SESSION_COOKIE = "cortex_session"
CSRF_COOKIE = "cortex_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

NOT_LOGGED_IN = "Not authenticated: log in first."


async def _from_cookie(
    request: Request, database: Database, settings: SettingsDep, credentials: CredentialCache
) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    idle = timedelta(seconds=settings.session_idle_sec)
    found = await credentials.sessions.login_session(database, token, idle)
    if found is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail="Your session has expired or ended: log in again."
        )
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not (sent and hmac.compare_digest(sent, found.csrf_token)):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"CSRF check failed: send the {CSRF_HEADER} header "
                f"with the value of the {CSRF_COOKIE} cookie.",
            )
    return found.principal


async def _from_api_key(
    request: Request, database: Database, credentials: CredentialCache
) -> Principal | None:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        return None
    principal = await credentials.api_keys.principal(database, key.strip())
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="Invalid, expired or revoked API key.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


async def require_user_session(
    request: Request, database: Database, settings: SettingsDep, credentials: Credentials
) -> Principal:
    if request.headers.get("Authorization") and not request.cookies.get(SESSION_COOKIE):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="This endpoint needs a logged-in session; API keys are not accepted here.",
        )
    principal = await _from_cookie(request, database, settings, credentials)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=NOT_LOGGED_IN)
    return principal


async def require_user(
    request: Request, database: Database, settings: SettingsDep, credentials: Credentials
) -> Principal:
    principal = await _from_api_key(request, database, credentials) or await _from_cookie(
        request, database, settings, credentials
    )
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=NOT_LOGGED_IN + " Or send an API key: Authorization: Bearer <key>.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


async def require_admin(
    principal: Annotated[Principal, Depends(require_user_session)],
) -> Principal:
    if not principal.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Administrator role required.")
    return principal


UserSession = Annotated[Principal, Depends(require_user_session)]
User = Annotated[Principal, Depends(require_user)]
Admin = Annotated[Principal, Depends(require_admin)]
