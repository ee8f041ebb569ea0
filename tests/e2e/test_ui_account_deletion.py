"""Deleting accounts in a browser: an administrator from the Users page, a user from My account."""

import secrets

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.support.browser import (
    UiUser,
    chromium_fixture,  # noqa: F401 - fixture
    open_ui,
    ui_fixture,  # noqa: F401 - fixture
)
from tests.support.chat import MODEL
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


async def login_status(stack: Stack, username: str, password: str) -> int:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        body = {"username": username, "password": password}
        return (await client.post("/auth/login", json=body)).status_code


async def test_an_admin_deletes_a_user_from_the_users_page(chromium: Browser, stack: Stack) -> None:
    username, password = stack.create_user(f"leaving-{secrets.token_hex(4)}")
    admin = await open_ui(chromium, stack.gateway_url, "admin", stack.admin_password)
    try:
        page = admin.page
        await page.goto("/users")
        row = page.get_by_test_id("users-table").locator("tbody tr", has_text=username)
        await expect(row).to_be_visible()

        await row.get_by_role("button", name=f"Delete {username}").click()
        dialog = page.get_by_role("dialog")
        await expect(dialog).to_contain_text(f"Delete {username}?")
        await expect(dialog).to_contain_text("erased for good")
        await dialog.get_by_role("button", name="Delete user").click()

        await expect(row).to_have_count(0)
        await page.reload()
        await expect(page.get_by_test_id("users-table")).not_to_contain_text(username)
    finally:
        await admin.close()
    assert await login_status(stack, username, password) == 401


async def test_a_user_deletes_their_own_account_after_confirming_with_their_password(
    ui: UiUser, stack: Stack
) -> None:
    await ui.create_chat(MODEL, "about to go", ("user", "a chat that goes with me"))
    page = ui.page
    await page.goto("/chat")
    await page.get_by_role("link", name="My account").click()
    await expect(page.get_by_role("heading", name="My account", exact=True)).to_be_visible()
    section = page.get_by_test_id("delete-account")

    await section.get_by_label("Your password").fill("not-my-password")
    await section.get_by_role("button", name="Delete my account").click()
    await page.get_by_role("dialog").get_by_role("button", name="Delete my account").click()
    await expect(section).to_contain_text("The password is wrong.")

    await section.get_by_label("Your password").fill(ui.password)
    await section.get_by_role("button", name="Delete my account").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("downloaded your data")
    await dialog.get_by_role("button", name="Delete my account").click()

    await expect(page).to_have_url(f"{stack.gateway_url}/login")
    assert await login_status(stack, ui.username, ui.password) == 401
