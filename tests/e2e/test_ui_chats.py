"""Chats in the browser: persistence across reloads and devices, delete, Clear All, XSS, context."""

import json
import re

import pytest
from playwright.async_api import Locator, Page, expect

from tests.support.browser import (
    UiUser,
    chromium_fixture,  # noqa: F401 - fixture
    message_bodies,
    message_box,
    messages,
    screenshot,
    ui_fixture,  # noqa: F401 - fixture
)

pytestmark = pytest.mark.e2e

MODEL = "sim-vllm-small"  # the stack's fast vLLM model: 8,192 tokens of context, exact tokenizer
XSS = (
    '<img src=x onerror="window.__xss=1">'
    "<script>window.__xss=2</script>"
    ' <svg onload="window.__xss=3"></svg>'
    " [click me](javascript:window.__xss=4)"
    ' <a href="javascript:window.__xss=5">raw link</a>'
    " ![pic](javascript:window.__xss=6)"
)


def titles_in_sidebar(page: Page) -> Locator:
    """Asserted with `expect(...).to_have_text([...])`, which waits for the rendered text: read
    at once, the titles were once still empty in a clean-clone CI run."""
    return page.get_by_test_id("chat-item").locator(".chat-item-title")


async def send_and_wait(page: Page, text: str) -> None:
    await message_box(page).fill(text)
    await message_box(page).press("Enter")
    await expect(page.get_by_test_id("send-button")).to_be_visible()
    await expect(messages(page, "assistant").last).not_to_have_attribute("aria-busy", "true")


async def test_reload_and_a_second_browser_show_the_same_chat(ui: UiUser) -> None:
    page = ui.page
    await page.goto("/chat")
    await page.get_by_test_id("model-select").select_option(MODEL)
    await send_and_wait(page, "echo: remember me")
    await expect(page).to_have_url(re.compile(r"/chat/[0-9a-f-]{36}$"))
    chat_url = page.url

    await page.reload()
    item = page.get_by_test_id("chat-item")
    await expect(item).to_have_count(1)
    await expect(item).to_contain_text("echo: remember me")
    await expect(item).to_contain_text(MODEL)
    await expect(item).to_have_class(re.compile(r"\bactive\b"))
    await expect(message_bodies(page)).to_have_text(["echo: remember me", "remember me"])

    await page.get_by_test_id("new-chat").click()
    await expect(page).to_have_url(re.compile(r"/chat$"))
    await expect(messages(page)).to_have_count(0)
    await item.locator(".chat-item-main").click()
    await expect(page).to_have_url(chat_url)
    await expect(message_bodies(page)).to_have_text(["echo: remember me", "remember me"])
    await screenshot(page, "ui_chat_after_reload")

    second = await ui.second_device()
    try:
        await second.page.goto("/chat")
        await expect(second.page.get_by_test_id("chat-item")).to_have_count(1)
        await second.page.get_by_test_id("chat-item").locator(".chat-item-main").click()
        await expect(second.page).to_have_url(chat_url)
        await expect(message_bodies(second.page)).to_have_text(["echo: remember me", "remember me"])
        await expect(second.page.get_by_test_id("model-select")).to_have_value(MODEL)
        await expect(second.page.get_by_test_id("model-select")).to_be_disabled()
        await screenshot(second.page, "ui_chat_on_second_device")
    finally:
        await second.close()


async def test_chats_are_listed_newest_first_and_deleted_one_by_one_or_all(ui: UiUser) -> None:
    for title in ("alpha", "beta", "gamma"):
        await ui.create_chat(MODEL, title, ("user", f"hello {title}"))
    page = ui.page
    await page.goto("/chat")
    await expect(page.get_by_test_id("chat-item")).to_have_count(3)
    await expect(titles_in_sidebar(page)).to_have_text(["gamma", "beta", "alpha"])

    beta = page.get_by_test_id("chat-item").filter(has_text="beta")
    await beta.locator(".chat-item-main").click()
    await expect(message_bodies(page)).to_have_text(["hello beta"])
    await page.get_by_role("button", name="Delete chat beta").click()
    await expect(page.get_by_test_id("chat-item")).to_have_count(2)
    await expect(page).to_have_url(re.compile(r"/chat$"))  # the open chat was the one deleted
    await expect(messages(page)).to_have_count(0)
    await page.reload()
    await expect(page.get_by_test_id("chat-item")).to_have_count(2)
    await expect(titles_in_sidebar(page)).to_have_text(["gamma", "alpha"])

    await page.get_by_test_id("clear-all").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("Delete all chats?")
    await screenshot(page, "ui_clear_all_confirmation")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()
    await expect(page.get_by_test_id("chat-item")).to_have_count(2)

    await page.get_by_test_id("clear-all").click()
    await page.get_by_role("dialog").get_by_role("button", name="Delete all chats").click()
    await expect(page.get_by_test_id("chat-item")).to_have_count(0)
    await expect(page.get_by_text("No chats yet.")).to_be_visible()
    await page.reload()
    await expect(page.get_by_text("No chats yet.")).to_be_visible()
    await expect(page.get_by_test_id("chat-item")).to_have_count(0)
    await screenshot(page, "ui_all_chats_cleared")


async def assert_inert(page: Page) -> None:
    """No script of the payload ran and nothing of it became live markup."""
    assert await page.evaluate("window.__xss") is None
    listing = page.locator(".message-list")
    for live in ("img", "script", "svg", "[onerror]", "[onload]", 'a[href^="javascript:"]'):
        assert await listing.locator(live).count() == 0, f"live {live} in a message"
    assert await page.locator('a[href^="javascript:"]').count() == 0


async def test_an_xss_payload_stays_inert_text(ui: UiUser) -> None:
    page = ui.page
    await page.goto("/chat")
    await page.get_by_test_id("model-select").select_option(MODEL)
    await send_and_wait(page, f"echo: {XSS}")
    answer = message_bodies(page, "assistant")
    await expect(answer).to_contain_text('<img src=x onerror="window.__xss=1">')
    await expect(answer).to_contain_text("<script>window.__xss=2</script>")
    await expect(message_bodies(page, "user")).to_have_text(f"echo: {XSS}")
    await answer.get_by_text("click me").click()
    await assert_inert(page)
    await screenshot(page, "ui_xss_echoed")

    title = '<img src=x onerror="window.__xss=7">'
    stored = await ui.create_chat(MODEL, title, ("user", "hi"), ("assistant", XSS))
    await page.goto(f"/chat/{stored}")
    await expect(message_bodies(page, "assistant")).to_contain_text("raw link")
    await expect(page.get_by_test_id("chat-item").first).to_contain_text("<img src=x")
    await assert_inert(page)
    await page.reload()
    await expect(message_bodies(page, "assistant")).to_contain_text("raw link")
    await assert_inert(page)
    await screenshot(page, "ui_xss_stored")


def context_count(text: str) -> int:
    match = re.fullmatch(r"Context: ([\d,]+) / 8,192 tokens", text)
    assert match, f"unexpected context line {text!r}"
    return int(match.group(1).replace(",", ""))


async def test_the_context_line_follows_the_draft_and_blocks_what_cannot_fit(ui: UiUser) -> None:
    page = ui.page
    await page.goto("/chat")
    await page.get_by_test_id("model-select").select_option(MODEL)
    line = page.get_by_test_id("context-line")
    await expect(line).to_have_text("Context: 0 / 8,192 tokens")

    await message_box(page).press_sequentially("What is Python?")
    await expect(line).not_to_have_text("Context: 0 / 8,192 tokens")
    await expect(line).to_have_text(re.compile(r"^Context: [\d,]+ / 8,192 tokens$"))
    short = context_count(await line.inner_text())
    assert short > 0

    await message_box(page).press_sequentially(" Explain its garbage collector in detail.")
    await expect(line).not_to_have_text(f"Context: {short:,} / 8,192 tokens")
    longer = context_count(await line.inner_text())
    assert longer > short
    await expect(page.get_by_test_id("send-button")).to_be_enabled()
    await screenshot(page, "ui_context_while_typing")

    await message_box(page).fill("word " * 9000)  # ~9,000 tokens: over the 8,192 window
    await expect(page.get_by_text("Too long for this model")).to_be_visible()
    await expect(page.get_by_test_id("send-button")).to_be_disabled()
    await message_box(page).press("Enter")
    await expect(messages(page)).to_have_count(0)  # nothing was sent
    await screenshot(page, "ui_context_over_limit")

    await message_box(page).fill("Short again")
    await expect(page.get_by_text("Too long for this model")).to_be_hidden()
    await expect(page.get_by_test_id("send-button")).to_be_enabled()


async def test_a_system_prompt_is_saved_with_the_chat_and_fixed_once_it_started(
    ui: UiUser,
) -> None:
    page = ui.page
    await page.goto("/chat")
    await page.get_by_test_id("model-select").select_option(MODEL)
    await page.get_by_text("Chat settings").click()
    await expect(page.get_by_label("Max tokens")).to_have_value("512")  # the model's default
    await page.get_by_label("System prompt").fill("You answer in one word.")
    await send_and_wait(page, "echo: fine")

    await expect(messages(page, "system")).to_have_text(re.compile("You answer in one word."))
    chat = page.url.rsplit("/", 1)[-1]
    saved = await ui.saved_messages(chat)
    assert [(m["role"], m["content"]) for m in saved] == [
        ("system", "You answer in one word."),
        ("user", "echo: fine"),
        ("assistant", "fine"),
    ]

    await page.reload()
    await page.get_by_text("Chat settings").click()
    await expect(page.get_by_label("System prompt")).to_have_value("You answer in one word.")
    await expect(page.get_by_label("System prompt")).to_be_disabled()
    await screenshot(page, "ui_system_prompt")


async def test_a_chat_exports_as_markdown_and_json(ui: UiUser) -> None:
    chat = await ui.create_chat(
        MODEL, "export me", ("user", "What is 2+2?"), ("assistant", "**4**, of course.")
    )
    page = ui.page
    await page.goto(f"/chat/{chat}")
    await expect(messages(page)).to_have_count(2)

    async with page.expect_download() as markdown_download:
        await page.get_by_role("button", name="Export Markdown").click()
    markdown = (await (await markdown_download.value).path()).read_text()
    assert "What is 2+2?" in markdown and "**4**, of course." in markdown

    async with page.expect_download() as json_download:
        await page.get_by_role("button", name="Export JSON").click()
    exported = json.loads((await (await json_download.value).path()).read_text())
    assert [(m["role"], m["content"]) for m in exported["messages"]] == [
        ("user", "What is 2+2?"),
        ("assistant", "**4**, of course."),
    ]
