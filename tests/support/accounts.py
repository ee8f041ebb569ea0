"""Helpers for the accounts tests: the gateway's routes, admin actions, the audit stream."""

import json
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import nats
from nats.js.errors import NotFoundError

from cortex_gateway.app import create_app
from cortex_gateway.settings import Settings
from tests.support.clients import login
from tests.support.stack import Stack

PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000"
_PATH_PARAM = re.compile(r"\{[^}]+\}")
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


def gateway_routes(prefix: str) -> list[tuple[str, str]]:
    """(method, path) of every API operation under `prefix`, path parameters filled with a dummy.

    Read from the application's own OpenAPI description, so routes added later are covered
    without editing the tests.
    """
    paths = create_app(Settings()).openapi()["paths"]
    found = set()
    for path, operations in paths.items():
        if not path.startswith(prefix):
            continue
        for method in operations:
            if method.upper() in HTTP_METHODS:
                found.add((method.upper(), _PATH_PARAM.sub(PLACEHOLDER_ID, path)))
    return sorted(found)


def new_password() -> str:
    return secrets.token_urlsafe(16)


async def create_user(
    admin: httpx.AsyncClient,
    *,
    role: str = "user",
    org_id: str | None = None,
    password: str | None = None,
) -> tuple[dict[str, Any], str]:
    """A user created through the admin API; returns (User, password)."""
    password = password or new_password()
    body: dict[str, Any] = {
        "username": f"u-{secrets.token_hex(5)}",
        "password": password,
        "role": role,
    }
    if org_id:
        body["org_id"] = org_id
    created = await admin.post("/admin/users", json=body)
    assert created.status_code == 201, created.text
    return created.json(), password


async def create_key(admin: httpx.AsyncClient, user_id: str, **extra: Any) -> dict[str, Any]:
    created = await admin.post("/admin/keys", json={"user_id": user_id, **extra})
    assert created.status_code == 201, created.text
    return dict(created.json())


@asynccontextmanager
async def logged_in(
    base_url: str, username: str, password: str
) -> AsyncIterator[httpx.AsyncClient]:
    client = await login(base_url, username, password)
    try:
        yield client
    finally:
        await client.aclose()


def session_token(client: httpx.AsyncClient) -> str:
    return str(client.cookies["cortex_session"])


def with_session_cookie(base_url: str, token: str) -> httpx.AsyncClient:
    """A client that sends exactly this session cookie (no cookie jar: no client-side expiry)."""
    return httpx.AsyncClient(
        base_url=base_url, timeout=30, headers={"Cookie": f"cortex_session={token}"}
    )


async def audit_events(stack: Stack, action: str | None = None) -> list[dict[str, Any]]:
    """Every audit event stored in JetStream so far (optionally of one action), oldest first."""
    prefix = stack.env["CORTEX_NATS_PREFIX"]
    subject = f"{prefix}.audit.{action}" if action else f"{prefix}.audit.>"
    return await stored_events(stack, f"{prefix.upper()}_AUDIT", subject)


async def stored_events(stack: Stack, stream: str, subject: str) -> list[dict[str, Any]]:
    """Every event of `stream` on `subject` (wildcards allowed), oldest first."""
    nc = await nats.connect(stack.env["CORTEX_NATS_URL"])
    events = []
    try:
        js = nc.jetstream()
        seq = 1
        while True:
            try:
                message = await js.get_msg(stream, seq=seq, subject=subject, next=True, direct=True)
            except NotFoundError:
                break
            events.append(json.loads(message.data or b"{}"))
            seq = int(message.seq or 0) + 1
    finally:
        await nc.close()
    return events
