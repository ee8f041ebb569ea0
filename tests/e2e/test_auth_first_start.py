"""First start: the admin account, with a generated password when none is configured; and the
cookie settings an operator chooses."""

import secrets
import stat
from pathlib import Path

import httpx
import pytest

from tests.support.accounts import logged_in
from tests.support.processes import ServiceProcess, run_command
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

ANNOUNCEMENT = "Generated password for admin account"


def gateway_without_admin_password(stack: Stack, username: str, password_file: Path) -> dict:
    env = {k: v for k, v in stack.env.items() if k != "CORTEX_GATEWAY_ADMIN_PASSWORD"}
    return {
        **env,
        "CORTEX_GATEWAY_ADMIN_USERNAME": username,
        "CORTEX_GATEWAY_ADMIN_PASSWORD_FILE": str(password_file),
    }


async def test_without_a_configured_password_one_is_generated_shown_once_and_kept_private(
    stack: Stack, tmp_path: Path
) -> None:
    username = f"root-{secrets.token_hex(4)}"
    password_file = tmp_path / "data" / "admin-password"
    env = gateway_without_admin_password(stack, username, password_file)

    first = ServiceProcess("gateway", env).start()
    try:
        password = password_file.read_text().strip()
        assert len(password) >= 12
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        assert first.log_path.read_text().count(password) == 1  # printed once
        async with logged_in(first.url, username, password) as admin:
            me = await admin.get("/auth/me")
            assert me.json()["role"] == "admin"
    finally:
        first.stop()

    second = ServiceProcess("gateway", env).start()  # a restart: the account exists already
    try:
        assert ANNOUNCEMENT not in second.log_path.read_text()
        assert password_file.read_text().strip() == password
        async with logged_in(second.url, username, password) as admin:
            assert (await admin.get("/auth/me")).status_code == 200
    finally:
        second.stop()


def test_a_short_admin_password_is_refused_with_one_clear_line(stack: Stack) -> None:
    result = run_command(
        "gateway", "migrate", {**stack.env, "CORTEX_GATEWAY_ADMIN_PASSWORD": "hunter2"}
    )
    assert result.returncode == 2
    assert "CORTEX_GATEWAY_ADMIN_PASSWORD" in result.stderr
    assert "at least 12 characters" in result.stderr


async def test_cookies_are_secure_when_the_gateway_is_behind_https(stack: Stack) -> None:
    gateway = stack.start_extra("gateway", CORTEX_GATEWAY_COOKIE_SECURE="true")
    username, password = stack.create_user()
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        response = await client.post(
            "/auth/login", json={"username": username, "password": password}
        )
    assert response.status_code == 200, response.text
    cookies = response.headers.get_list("set-cookie")
    assert len(cookies) == 2
    assert all("; secure" in cookie.lower() for cookie in cookies)
