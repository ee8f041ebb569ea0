"""The admin pages in a browser: models and their health, usage, users and API keys."""

import re
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.support.browser import (
    UiUser,
    chromium_fixture,  # noqa: F401 - fixture
    message_box,
    messages,
    no_horizontal_overflow,
    open_ui,
    screenshot,
)
from tests.support.clients import login
from tests.support.stack import TEST_MODELS, Stack

pytestmark = pytest.mark.e2e

MODEL = "sim-vllm-small"
STACK_MODELS = [str(model["name"]) for model in TEST_MODELS]
RELOADS = 30  # usage is projected asynchronously: the page is reloaded until it shows up


@pytest.fixture
async def admin_ui(chromium: Browser, stack: Stack) -> AsyncIterator[UiUser]:
    ui = await open_ui(chromium, stack.gateway_url, "admin", stack.admin_password)
    try:
        yield ui
    finally:
        await ui.close()


async def test_models_page_shows_health_refreshes_and_adds_and_removes_upstreams(
    admin_ui: UiUser,
) -> None:
    page = admin_ui.page
    await page.goto("/models")
    table = page.get_by_test_id("upstreams-table")
    for name in STACK_MODELS:
        row = table.locator("tbody tr", has_text=name)
        await expect(row).to_contain_text("healthy")
        await expect(row).to_contain_text(re.compile(r"\d+ms"))
        await expect(row.locator(".history-dots .dot").first).to_be_visible()

    await page.get_by_role("button", name="Refresh health").click()
    await expect(page.get_by_text("Refreshed just now")).to_be_visible()

    name = f"ui-added-{secrets.token_hex(3)}"
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Base URL").fill("http://127.0.0.1:9/nothing-listens-here")
    await page.get_by_role("button", name="Add upstream").click()
    await expect(page.get_by_text(f"Added {name}.")).to_be_visible()
    added = table.locator("tbody tr", has_text=name)
    await expect(added).to_be_visible()
    await screenshot(page, "ui_models_admin")

    await page.get_by_role("button", name=f"Remove {name}").click()
    await page.get_by_role("button", name="Confirm remove").click()
    await expect(added).to_have_count(0)
    await page.reload()
    await expect(table.locator("tbody tr", has_text=MODEL)).to_be_visible()
    await expect(table.locator("tbody tr", has_text=name)).to_have_count(0)


async def chat_once(page: Page, text: str) -> None:
    await page.goto("/chat")
    await page.get_by_test_id("model-select").select_option(MODEL)
    await message_box(page).fill(text)
    await message_box(page).press("Enter")
    await expect(page.get_by_test_id("send-button")).to_be_visible()
    await expect(messages(page, "assistant").last).not_to_have_attribute("aria-busy", "true")


async def test_usage_page_shows_playground_usage_filters_it_and_exports_csv(
    admin_ui: UiUser,
) -> None:
    page = admin_ui.page
    await chat_once(page, "echo: count me")
    await page.goto("/usage")
    records = page.get_by_test_id("usage-records")
    mine = records.locator("tbody tr", has_text="playground").filter(has_text=MODEL)
    for _ in range(RELOADS):  # until the newest such row is this chat's (others came before)
        if await mine.count() and "admin" in await mine.first.inner_text():
            break
        await page.reload()
        await expect(records).to_be_visible()
    await expect(mine.first).to_contain_text("admin")
    await expect(page.get_by_test_id("usage-groups")).to_contain_text(MODEL)
    await expect(page.locator(".charts canvas").first).to_be_visible()

    await page.get_by_label("Source", exact=True).select_option("playground")
    await page.get_by_label("Model", exact=True).fill(MODEL)
    await page.get_by_role("button", name="Apply filters").click()
    others = records.locator("tbody tr").filter(has_not_text=MODEL)
    await expect(others).to_have_count(0)
    await expect(mine.first).to_be_visible()
    rows = await records.locator("tbody tr").all_inner_texts()
    assert rows and all("playground" in row and MODEL in row for row in rows), rows
    await screenshot(page, "ui_usage")

    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Export CSV").click()
    csv_text = (await (await download_info.value).path()).read_text()
    header, *lines = csv_text.splitlines()
    assert "source" in header.split(",") and "model" in header.split(",")
    assert lines and all(",playground," in line and f",{MODEL}," in line for line in lines)


async def test_users_page_creates_a_user_and_an_api_key_shown_once(
    admin_ui: UiUser, stack: Stack
) -> None:
    page = admin_ui.page
    await page.goto("/users")
    username = f"ui-{secrets.token_hex(4)}"
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(secrets.token_urlsafe(16))
    await page.get_by_role("button", name="Create user").click()
    await expect(page.get_by_text(f"Created {username}.")).to_be_visible()
    users = page.get_by_test_id("users-table")
    await expect(users.locator("tbody tr", has_text=username)).to_contain_text("active")

    await page.get_by_role("button", name=f"Create API key for {username}").click()
    shown = page.get_by_test_id("new-api-key")
    await expect(shown).to_contain_text("It will not be shown again")
    key = await shown.get_by_label("New API key").input_value()
    assert len(key) > 20
    await screenshot(page, "ui_users_new_key")
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        answer = await client.get("/v1/models/running", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text

    await page.get_by_role("button", name="I have saved the key").click()
    await expect(shown).to_have_count(0)
    await page.reload()
    await expect(page.get_by_text(key)).to_have_count(0)  # shown once, never again
    key_row = page.locator("tr", has_text=key[:12])
    await expect(key_row).to_contain_text(username)
    await expect(key_row).to_contain_text("active")

    await key_row.get_by_role("button", name=re.compile(r"^Revoke key")).click()
    await expect(key_row).to_contain_text("revoked")
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        answer = await client.get("/v1/models/running", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 401, answer.text


@pytest.mark.parametrize("width", [1280, 390])
async def test_admin_pages_fit_the_screen(chromium: Browser, stack: Stack, width: int) -> None:
    ui = await open_ui(chromium, stack.gateway_url, "admin", stack.admin_password, width)
    try:
        for path, ready in (
            ("/models", "upstreams-table"),
            ("/usage", "usage-groups"),
            ("/users", "users-table"),
        ):
            await ui.page.goto(path)
            await expect(ui.page.get_by_test_id(ready).locator("tbody tr").first).to_be_visible()
            assert await no_horizontal_overflow(ui.page), f"{path} scrolls sideways at {width}"
            await screenshot(ui.page, f"ui_layout_{width}{path.replace('/', '_')}")
    finally:
        await ui.close()


async def test_users_page_changes_a_role_and_explains_a_refusal(
    admin_ui: UiUser, stack: Stack
) -> None:
    page = admin_ui.page
    username, password = stack.create_user()
    await page.goto("/users")
    role = page.get_by_label(f"Role of {username}", exact=True)
    await expect(role).to_have_value("user")

    await role.select_option("admin")
    await page.reload()
    await expect(page.get_by_label(f"Role of {username}", exact=True)).to_have_value("admin")
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        await client.post("/auth/login", json={"username": username, "password": password})
        as_admin = await client.get("/admin/users")
    assert as_admin.status_code == 200, as_admin.text
    await screenshot(page, "ui_users_role")

    # With every other administrator demoted, `admin` cannot demote itself: the page says why.
    users = as_admin.json()["users"]
    others = [u for u in users if u["role"] == "admin" and u["username"] != "admin"]
    admin = await login(stack.gateway_url, "admin", stack.admin_password)
    for user in others:
        assert (await admin.patch(f"/admin/users/{user['id']}", json={"role": "user"})).is_success
    try:
        await page.reload()
        await page.get_by_label("Role of admin", exact=True).select_option("user")
        await expect(page.get_by_text("This is the last administrator")).to_be_visible()
        await page.reload()
        await expect(page.get_by_label("Role of admin", exact=True)).to_have_value("admin")
    finally:
        for user in others:
            await admin.patch(f"/admin/users/{user['id']}", json={"role": "admin"})
        await admin.aclose()
