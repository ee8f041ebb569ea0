"""Logging in and out with cookie sessions, their expiry and revocation, CSRF, login throttling."""

import asyncio
import secrets

import httpx
import pytest

from tests.conftest import LoginAs
from tests.support.accounts import (
    create_user,
    gateway_routes,
    logged_in,
    new_password,
    session_token,
    with_session_cookie,
)
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


def set_cookie_headers(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie header of each cookie, by cookie name, lower-cased for attribute checks."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        found[header.split("=", 1)[0]] = header.lower()
    return found


async def test_login_sets_an_opaque_httponly_session_and_a_readable_csrf_cookie(
    stack: Stack,
) -> None:
    username, password = stack.create_user()
    async with httpx.AsyncClient(base_url=stack.gateway_url) as client:
        response = await client.post(
            "/auth/login", json={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        assert response.json()["username"] == username
        assert response.json()["role"] == "user"
        assert response.json()["org_name"] == "default"
        assert response.json()["disabled"] is False

        cookies = set_cookie_headers(response)
        session, csrf = cookies["cortex_session"], cookies["cortex_csrf"]
        assert "httponly" in session and "samesite=lax" in session and "path=/" in session
        assert "httponly" not in csrf and "samesite=lax" in csrf
        token = client.cookies["cortex_session"]
        assert username not in token and len(token) >= 40  # random, not the username

        me = await client.get("/auth/me")
        assert me.status_code == 200, me.text
        assert me.json()["username"] == username


async def test_logout_revokes_the_session_on_the_server(stack: Stack) -> None:
    username, password = stack.create_user()
    async with logged_in(stack.gateway_url, username, password) as client:
        token = session_token(client)
        logged_out = await client.post("/auth/logout")
        assert logged_out.status_code == 204, logged_out.text

    # The same cookie, replayed by someone who kept it, no longer works.
    async with with_session_cookie(stack.gateway_url, token) as replay:
        me = await replay.get("/auth/me")
        assert me.status_code == 401
        assert me.json()["detail"]
        listed = await replay.get("/v1/chat/sessions")
        assert listed.status_code == 401


@pytest.mark.parametrize(
    "cookie",
    [
        "admin",  # the original system trusted a cookie holding the username
        secrets.token_urlsafe(32),  # well-formed but never issued
        "",
        "x" * 5000,
    ],
)
async def test_forged_session_cookies_are_rejected(stack: Stack, cookie: str) -> None:
    async with with_session_cookie(stack.gateway_url, cookie) as client:
        for path in ("/auth/me", "/v1/chat/sessions", "/admin/users"):
            response = await client.get(path)
            assert response.status_code == 401, f"{path}: {response.text}"
            assert isinstance(response.json()["detail"], str)


async def test_idle_session_expires(stack: Stack) -> None:
    gateway = stack.start_extra("gateway", CORTEX_GATEWAY_SESSION_IDLE_SEC="3")
    username, password = stack.create_user()
    async with logged_in(gateway.url, username, password) as client:
        token = session_token(client)
    async with with_session_cookie(gateway.url, token) as session:
        assert (await session.get("/auth/me")).status_code == 200
        await asyncio.sleep(4.5)  # longer than the idle limit, without any request
        expired = await session.get("/auth/me")
        assert expired.status_code == 401
        assert "expired" in expired.json()["detail"]


async def test_active_session_outlives_the_idle_limit_but_not_its_absolute_lifetime(
    stack: Stack,
) -> None:
    gateway = stack.start_extra(
        "gateway", CORTEX_GATEWAY_SESSION_IDLE_SEC="6", CORTEX_GATEWAY_SESSION_MAX_SEC="12"
    )
    username, password = stack.create_user()
    async with logged_in(gateway.url, username, password) as client:
        token = session_token(client)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with with_session_cookie(gateway.url, token) as session:
        while loop.time() - started < 9:  # well past the idle limit, in steady use
            me = await session.get("/auth/me")
            assert me.status_code == 200, me.text
            await asyncio.sleep(1)
        while loop.time() - started < 13:
            await asyncio.sleep(1)
            assert (await session.get("/auth/me")).status_code in (200, 401)
        expired = await session.get("/auth/me")
        assert expired.status_code == 401


async def test_changing_your_password_logs_out_your_other_sessions(stack: Stack) -> None:
    username, password = stack.create_user()
    async with (
        logged_in(stack.gateway_url, username, password) as laptop,
        logged_in(stack.gateway_url, username, password) as phone,
    ):
        new = new_password()
        changed = await laptop.post(
            "/auth/password", json={"current_password": password, "new_password": new}
        )
        assert changed.status_code == 204, changed.text

        assert (await laptop.get("/auth/me")).status_code == 200
        assert (await phone.get("/auth/me")).status_code == 401
    async with httpx.AsyncClient(base_url=stack.gateway_url) as client:
        old = await client.post("/auth/login", json={"username": username, "password": password})
        assert old.status_code == 401
        fresh = await client.post("/auth/login", json={"username": username, "password": new})
        assert fresh.status_code == 200


async def test_changing_your_password_needs_the_current_one_and_a_strong_new_one(
    stack: Stack,
) -> None:
    username, password = stack.create_user()
    async with logged_in(stack.gateway_url, username, password) as client:
        wrong = await client.post(
            "/auth/password", json={"current_password": "not-my-password", "new_password": "x" * 20}
        )
        assert wrong.status_code == 403
        assert "current password" in wrong.json()["detail"]

        weak = await client.post(
            "/auth/password", json={"current_password": password, "new_password": "short"}
        )
        assert weak.status_code == 422
        assert "at least 12 characters" in weak.json()["detail"]

        same = await client.post(
            "/auth/password", json={"current_password": password, "new_password": password}
        )
        assert same.status_code == 422

        assert (await client.get("/auth/me")).status_code == 200  # still logged in


async def test_state_changing_requests_without_the_right_csrf_header_are_refused(
    stack: Stack, login_as: LoginAs
) -> None:
    client = await login_as()
    created = await client.post("/v1/chat/sessions", json={"model_name": "sim-vllm-small"})
    assert created.status_code == 201, created.text
    session_id = created.json()["id"]
    other = await login_as()  # a real CSRF token, but of another session
    attempts = {
        "missing": None,
        "wrong": secrets.token_urlsafe(32),
        "another session's": other.cookies["cortex_csrf"],
    }
    for label, header in attempts.items():
        headers = {"X-CSRF-Token": header} if header else {}
        client.headers.pop("X-CSRF-Token", None)
        requests = [
            client.post(
                "/v1/chat/sessions", json={"model_name": "sim-vllm-small"}, headers=headers
            ),
            client.post(
                f"/v1/chat/sessions/{session_id}/messages",
                json={"role": "user", "content": "hi"},
                headers=headers,
            ),
            client.delete(f"/v1/chat/sessions/{session_id}", headers=headers),
            client.delete("/v1/chat/sessions", headers=headers),
            client.post("/auth/logout", headers=headers),
        ]
        for response in await asyncio.gather(*requests):
            assert response.status_code == 403, f"{label}: {response.request.url} {response.text}"
            assert "CSRF" in response.json()["detail"]

    # Nothing happened: the session is still there, and the user still logged in.
    client.headers["X-CSRF-Token"] = client.cookies["cortex_csrf"]
    fetched = await client.get(f"/v1/chat/sessions/{session_id}")
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["messages"] == []


async def test_five_failed_logins_block_that_username_from_that_address(stack: Stack) -> None:
    username, password = stack.create_user()
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as client:
        for _ in range(5):
            failed = await client.post(
                "/auth/login", json={"username": username, "password": "wrong password!"}
            )
            assert failed.status_code == 401
        blocked = await client.post(
            "/auth/login", json={"username": username.upper(), "password": password}
        )
        assert blocked.status_code == 429
        assert 0 < int(blocked.headers["Retry-After"]) <= 15 * 60
        assert "Too many" in blocked.json()["detail"]

        other_name, other_password = stack.create_user()
        unaffected = await client.post(
            "/auth/login", json={"username": other_name, "password": other_password}
        )
        assert unaffected.status_code == 200


async def test_failed_logins_do_not_reveal_whether_the_username_exists(
    stack: Stack, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    existing, password = stack.create_user()
    disabled, disabled_password = await create_user(admin)
    assert (await admin.post(f"/admin/users/{disabled['id']}/disable")).status_code == 200
    attempts = {
        "wrong password": (existing, "wrong password!"),
        "unknown user": (f"nobody-{secrets.token_hex(4)}", "wrong password!"),
        "disabled user": (disabled["username"], disabled_password),
    }
    answers = {}
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as client:
        for label, (username, password) in attempts.items():
            response = await client.post(
                "/auth/login", json={"username": username, "password": password}
            )
            answers[label] = (
                response.status_code,
                response.json(),
                "set-cookie" in response.headers,
            )
    assert answers["wrong password"] == (401, {"detail": "Invalid username or password."}, False)
    assert answers["unknown user"] == answers["wrong password"]
    assert answers["disabled user"] == answers["wrong password"]

    # Throttling, too, treats an unknown username like an existing one.
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as client:
        unknown = f"nobody-{secrets.token_hex(4)}"
        statuses = []
        for _ in range(6):
            response = await client.post(
                "/auth/login", json={"username": unknown, "password": "wrong password!"}
            )
            statuses.append(response.status_code)
    assert statuses == [401] * 5 + [429]


async def test_every_protected_route_answers_401_json_without_credentials(stack: Stack) -> None:
    routes = [
        route
        for prefix in ("/v1", "/admin", "/auth")
        for route in gateway_routes(prefix)
        if route != ("POST", "/auth/login")
    ]
    assert ("GET", "/v1/chat/sessions") in routes and ("GET", "/admin/users") in routes
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        for method, path in routes:
            response = await client.request(method, path)
            assert response.status_code == 401, f"{method} {path}: {response.text}"
            body = response.json()
            if "/completions" in path:  # chat's and panes': OpenAI-shaped (docs/api.md)
                assert isinstance(body.get("detail") or body["error"]["message"], str)
            else:
                assert isinstance(body["detail"], str), f"{method} {path}: {body}"
