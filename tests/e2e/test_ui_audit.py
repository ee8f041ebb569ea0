"""The Audit page and "Download my data" in a real browser (headless Chromium)."""

import json
import zipfile
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.support.accounts import create_user, logged_in
from tests.support.browser import (
    UiUser,
    chromium_fixture,  # noqa: F401 - fixture
    open_ui,
    screenshot,
)
from tests.support.chat import add_message, create_session
from tests.support.clients import login
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture
async def admin(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    client = await login(stack.gateway_url, "admin", stack.admin_password)
    yield client
    await client.aclose()


async def test_an_admin_picks_a_user_and_reads_their_timeline_and_exports_it(
    chromium: Browser, stack: Stack, admin: httpx.AsyncClient
) -> None:
    user, password = await create_user(admin)
    async with logged_in(stack.gateway_url, user["username"], password) as session:
        await create_session(session, title="Audit me")
    promoted = await admin.patch(f"/admin/users/{user['id']}", json={"role": "admin"})
    assert promoted.status_code == 200, promoted.text

    ui = await open_ui(chromium, stack.gateway_url, "admin", stack.admin_password)
    try:
        page = ui.page
        await page.goto("/chat")
        await page.get_by_role("link", name="Audit").click()
        await expect(page).to_have_url(f"{stack.gateway_url}/admin/audit")
        await page.get_by_label("User").select_option(label=user["username"])
        timeline = page.get_by_test_id("audit-timeline")
        await expect(timeline).to_contain_text(f"created the user {user['username']}")
        await expect(timeline).to_contain_text("logged in from")
        await expect(timeline).to_contain_text("created a chat with")
        await expect(timeline).to_contain_text(
            f"changed the role of {user['username']} from user to admin"
        )
        await screenshot(page, "ui_audit_timeline")
        async with page.expect_download() as exported:
            await page.get_by_role("link", name="Export JSONL").click()
        lines = (await (await exported.value).path()).read_text().splitlines()
        assert any(json.loads(line)["event"].get("title") == "Audit me" for line in lines)
    finally:
        await ui.close()


async def test_a_user_downloads_their_data_from_the_menu(
    chromium: Browser, stack: Stack, admin: httpx.AsyncClient
) -> None:
    user, password = await create_user(admin)
    ui: UiUser = await open_ui(chromium, stack.gateway_url, user["username"], password)
    try:
        async with logged_in(stack.gateway_url, user["username"], password) as session:
            chat = await create_session(session, title="Mine")
            await add_message(session, chat, "keep this")
        page = ui.page
        await page.goto("/chat")
        async with page.expect_download() as downloaded:
            await page.get_by_role("link", name="Download my data").click()
        with zipfile.ZipFile(await (await downloaded.value).path()) as archive:
            saved = json.loads(archive.read(f"chats/{chat}.json"))
        assert [m["content"] for m in saved["messages"]] == ["keep this"]
    finally:
        await ui.close()
