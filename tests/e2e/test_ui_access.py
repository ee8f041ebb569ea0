"""Signing in and out, the main flow with the keyboard only, and the layout at 1280 and 390 px."""

import re

import pytest
from playwright.async_api import Browser, Page, expect

from tests.support.browser import (
    NARROW,
    WIDE,
    chromium_fixture,  # noqa: F401 - fixture
    message_bodies,
    message_box,
    messages,
    new_context,
    no_horizontal_overflow,
    open_ui,
    screenshot,
)
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

MODEL = "sim-vllm-small"
MAX_TABS = 60  # a bound, so that an unreachable control fails instead of looping
WIDE_ANSWER = "\n\n".join(
    [
        "## A wide answer",
        "| " + " | ".join(f"column {i}" for i in range(14)) + " |",
        "|" + "---|" * 14,
        "| " + " | ".join(f"value-{i}-abcdefgh" for i in range(14)) + " |",
        "```python\nprint('" + "x" * 300 + "')\n```",
        "A long unbroken word: " + "y" * 250,
        "See https://example.com/" + "z" * 200,
    ]
)
WIDE_ANSWER = WIDE_ANSWER.replace("\n\n|", "\n|")  # the table's rows stay together


async def focused_test_id(page: Page) -> str:
    return str(
        await page.evaluate(
            "document.activeElement?.dataset?.testid || document.activeElement?.id || ''"
        )
    )


async def tab_to(page: Page, target: str, key: str = "Tab") -> list[str]:
    """Press Tab (or Shift+Tab) until the element with this data-testid or id has focus."""
    seen = []
    for _ in range(MAX_TABS):
        await page.keyboard.press(key)
        seen.append(await focused_test_id(page))
        if seen[-1] == target:
            return seen
    raise AssertionError(f"{target} never got the focus with {key}; focus went through {seen}")


async def test_sign_in_shows_errors_then_signs_in_and_out(chromium: Browser, stack: Stack) -> None:
    username, password = stack.create_user()
    context = await new_context(chromium, stack.gateway_url)
    try:
        page = await context.new_page()
        await page.goto("/chat")
        await expect(page).to_have_url(re.compile(r"/login$"))  # anonymous: sent to sign in
        await page.get_by_label("Username").fill(username)
        await page.get_by_label("Password").fill("not-the-password")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_test_id("login-error")).to_have_text(
            "Invalid username or password."
        )
        await screenshot(page, "ui_login_error")

        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page).to_have_url(re.compile(r"/chat$"))
        await expect(page.get_by_role("navigation")).to_contain_text(username)
        await expect(page.get_by_role("link", name="Usage")).to_have_count(0)  # not an admin
        await screenshot(page, "ui_signed_in")

        await page.get_by_role("button", name="Log out").click()
        await expect(page).to_have_url(re.compile(r"/login$"))
        await page.goto("/chat")
        await expect(page).to_have_url(re.compile(r"/login$"))  # the session is gone
    finally:
        await context.close()


async def test_the_main_flow_with_the_keyboard_only(chromium: Browser, stack: Stack) -> None:
    username, password = stack.create_user()
    context = await new_context(chromium, stack.gateway_url)
    try:
        page = await context.new_page()
        await page.goto("/login")
        await expect(page.get_by_label("Username")).to_be_focused()
        await page.keyboard.type(username)
        await page.keyboard.press("Tab")
        await page.keyboard.type(password)
        await page.keyboard.press("Enter")
        await expect(page).to_have_url(re.compile(r"/chat$"))

        path = await tab_to(page, "chat-input")
        assert "model-select" in path, "the model selector is on the way to the message box"
        await page.keyboard.type("echo: line one")
        await page.keyboard.press("Shift+Enter")
        await page.keyboard.type("line two")
        await expect(message_box(page)).to_have_value("echo: line one\nline two")
        await expect(messages(page)).to_have_count(0)  # Shift+Enter is a new line, not a send

        await page.keyboard.press("Enter")
        await expect(message_bodies(page, "assistant")).to_have_text("line one\nline two")
        await expect(page.get_by_test_id("send-button")).to_be_visible()
        await expect(message_box(page)).to_be_focused()  # ready for the next message

        await tab_to(page, "regenerate", key="Shift+Tab")
        await page.keyboard.press("Enter")
        await expect(messages(page, "assistant")).to_have_count(1)
        await expect(message_bodies(page, "assistant")).to_have_text("line one\nline two")
        await expect(page.get_by_test_id("send-button")).to_be_visible()

        await tab_to(page, "new-chat")
        await page.keyboard.press("Enter")
        await expect(page).to_have_url(re.compile(r"/chat$"))
        await expect(messages(page)).to_have_count(0)
        await expect(page.get_by_test_id("chat-item")).to_have_count(1)

        await tab_to(page, "clear-all")
        await page.keyboard.press("Enter")
        dialog = page.get_by_role("dialog")
        await expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
        await page.keyboard.press("Tab")
        await expect(dialog.get_by_role("button", name="Delete all chats")).to_be_focused()
        await screenshot(page, "ui_keyboard_clear_all")
        await page.keyboard.press("Enter")
        await expect(page.get_by_test_id("chat-item")).to_have_count(0)
    finally:
        await context.close()


@pytest.mark.parametrize("width", [WIDE, NARROW])
async def test_the_layout_holds_without_horizontal_scrolling(
    chromium: Browser, stack: Stack, width: int
) -> None:
    username, password = stack.create_user()
    ui = await open_ui(chromium, stack.gateway_url, username, password, width)
    try:
        chat = await ui.create_chat(
            MODEL, "A chat with a very wide answer " + "w" * 80, ("user", "Show me a wide table")
        )
        await ui.post(
            f"/v1/chat/sessions/{chat}/messages", {"role": "assistant", "content": WIDE_ANSWER}
        )
        page = ui.page
        await page.goto(f"/chat/{chat}")
        await expect(messages(page)).to_have_count(2)
        await expect(page.locator(".markdown table")).to_be_visible()
        assert await no_horizontal_overflow(page)
        for control in ("perf-line", "context-line", "send-button", "model-lock-banner"):
            await expect(page.get_by_test_id(control)).to_be_in_viewport()
        await expect(message_box(page)).to_be_in_viewport()
        await expect(page.get_by_test_id("model-select")).to_be_in_viewport()
        await screenshot(page, f"ui_layout_{width}_chat")

        history = page.get_by_test_id("new-chat")
        if width == NARROW:
            await expect(history).not_to_be_in_viewport()  # the chat list is a drawer here
            await page.get_by_role("button", name="Chats", exact=True).click()
            await expect(history).to_be_in_viewport()
            await expect(page.get_by_test_id("chat-item")).to_be_in_viewport()
            assert await no_horizontal_overflow(page)
            await screenshot(page, f"ui_layout_{width}_chat_list")
            await page.keyboard.press("Escape")
            await expect(history).not_to_be_in_viewport()
        else:
            await expect(history).to_be_in_viewport()
            await expect(page.get_by_test_id("chat-item")).to_be_in_viewport()

        await page.goto("/chat")
        await message_box(page).fill("Hello")
        assert await no_horizontal_overflow(page)
        await expect(page.get_by_test_id("send-button")).to_be_in_viewport()
        await screenshot(page, f"ui_layout_{width}_new_chat")

        await page.goto("/models")
        await expect(page.get_by_role("heading", name="Running models")).to_be_visible()
        assert await no_horizontal_overflow(page)
        await screenshot(page, f"ui_layout_{width}_models")
    finally:
        await ui.close()
