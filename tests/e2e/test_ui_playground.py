"""The Chat Playground in a real browser against the real stack: send, stream, stop, regenerate."""

import re
from collections.abc import AsyncIterator

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
from tests.support.clients import login
from tests.support.completions import PrivateModels, eventually, private_models
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

SLOW = "ui-slow-vllm"  # a model of this module's own, slow enough to watch it stream
ANSWER_TOKENS = 120
LONG_ANSWER_TOKENS = 5000  # minutes of streaming: only ever stopped
PERF_LINE = re.compile(r"^\d[\d,]*\.\d tok/s \| TTFT: \d[\d,]*ms \| Tokens: \d[\d,]*$")


@pytest.fixture(scope="module")
async def slow_model(stack: Stack) -> AsyncIterator[PrivateModels]:
    admin = await login(stack.gateway_url, "admin", stack.admin_password)
    model = {"name": SLOW, "personality": "vllm", "max_context": 16384, "ttft_ms": 150}
    try:
        async with private_models(stack, admin, [model]) as models:
            yield models
    finally:
        await admin.aclose()


@pytest.fixture
async def slow(slow_model: PrivateModels) -> AsyncIterator[PrivateModels]:
    """The slow model at ~25 tokens/s with answers of ANSWER_TOKENS tokens."""
    await slow_model.control(SLOW, itl_ms=40, output_tokens=ANSWER_TOKENS)
    yield slow_model
    await slow_model.reset(SLOW)


async def open_new_chat(page: Page, model: str) -> None:
    await page.goto("/chat")
    await page.get_by_test_id("model-select").select_option(model)
    await expect(page.get_by_test_id("model-select")).to_have_value(model)


async def send(page: Page, text: str) -> None:
    await message_box(page).fill(text)
    await message_box(page).press("Enter")


def streaming_text(page: Page) -> Locator:
    """The rendered text of the answer being streamed."""
    return page.locator('[data-testid="message"][aria-busy="true"] .markdown')


async def wait_answer_done(page: Page) -> None:
    await expect(page.get_by_test_id("send-button")).to_be_visible()
    await expect(messages(page, "assistant").last).not_to_have_attribute("aria-busy", "true")


def session_id_of(page: Page) -> str:
    match = re.search(r"/chat/([0-9a-f-]{36})$", page.url)
    assert match, f"not on a chat's page: {page.url}"
    return match.group(1)


async def test_send_streams_tokens_fills_metrics_and_locks_the_model(
    ui: UiUser, slow: PrivateModels
) -> None:
    page = ui.page
    await open_new_chat(page, SLOW)
    await expect(page.get_by_test_id("model-lock-banner")).to_have_count(0)
    await expect(page.get_by_test_id("model-select")).to_be_enabled()

    await send(page, "Tell me about caching")

    streaming = streaming_text(page)
    await expect(page.get_by_test_id("stop-button")).to_be_visible()
    await expect(messages(page, "user")).to_have_text(re.compile("Tell me about caching"))
    await expect(streaming).to_contain_text(re.compile(r"\w{3}"))
    first_seen = len(await streaming.inner_text())
    await expect(page.get_by_test_id("perf-line")).to_have_text(PERF_LINE)

    async def grew_while_streaming() -> bool:
        return await streaming.count() == 1 and len(await streaming.inner_text()) > first_seen

    await eventually(grew_while_streaming, "more tokens rendered while the answer streams")
    await screenshot(page, "ui_streaming")

    await wait_answer_done(page)
    answer = messages(page, "assistant")
    await expect(answer).to_have_count(1)
    await expect(answer.get_by_test_id("message-metrics")).to_have_text(
        re.compile(rf"TTFT: \d[\d,]*ms · [\d,]+\.\d tok/s · Tokens: {ANSWER_TOKENS}")
    )
    await expect(page.get_by_test_id("perf-line")).to_have_text(
        re.compile(rf"^\d[\d,]*\.\d tok/s \| TTFT: \d[\d,]*ms \| Tokens: {ANSWER_TOKENS}$")
    )
    # Markdown: the simulator's answers hold a heading, a list, a table or code.
    await expect(answer.locator(".markdown :is(h1,h2,h3,ul,ol,table,pre)").first).to_be_visible()

    banner = page.get_by_test_id("model-lock-banner")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text(SLOW)
    await expect(banner).to_contain_text("Start a new chat")
    await expect(page.get_by_test_id("model-select")).to_be_disabled()
    await expect(page).to_have_url(re.compile(r"/chat/[0-9a-f-]{36}$"))
    await screenshot(page, "ui_answer_done_model_locked")


async def test_stop_keeps_the_partial_answer_and_the_server_saves_it_as_stopped(
    ui: UiUser, slow: PrivateModels
) -> None:
    await slow.control(SLOW, output_tokens=LONG_ANSWER_TOKENS)
    page = ui.page
    await open_new_chat(page, SLOW)
    await send(page, "Write a very long essay")
    streaming = streaming_text(page)
    await expect(streaming).to_contain_text(re.compile(r"\w{3}"))

    await page.get_by_test_id("stop-button").click()

    await wait_answer_done(page)
    answer = messages(page, "assistant")
    await expect(answer).to_have_count(1)
    await expect(answer.locator(".badge")).to_have_text("stopped")
    partial = await answer.locator(".markdown").inner_text()
    assert partial.strip(), "the text generated before Stop stays on screen"
    await expect(message_box(page)).to_be_focused()
    await screenshot(page, "ui_stopped")

    saved = await ui.saved_messages(session_id_of(page))
    assert [m["role"] for m in saved] == ["user", "assistant"]
    assert saved[1]["metrics_json"]["status"] == "stopped"
    assert 0 < saved[1]["metrics_json"]["completion_tokens"] < LONG_ANSWER_TOKENS

    await page.reload()
    answer = messages(page, "assistant")
    await expect(answer.locator(".badge")).to_have_text("stopped")
    await expect(answer.locator(".markdown")).to_have_text(partial)
    await expect(answer.get_by_test_id("message-metrics")).to_contain_text("Status: stopped")
    await screenshot(page, "ui_stopped_after_reload")


async def test_a_reload_mid_answer_shows_the_partial_answer_the_server_saved(
    ui: UiUser, slow: PrivateModels
) -> None:
    await slow.control(SLOW, output_tokens=LONG_ANSWER_TOKENS)
    page = ui.page
    await open_new_chat(page, SLOW)
    await send(page, "Write a very long essay")
    await expect(streaming_text(page)).to_contain_text(re.compile(r"\w{3}"))

    await page.reload()

    answer = messages(page, "assistant")
    await expect(answer.locator(".badge")).to_have_text("abandoned")
    await expect(message_bodies(page, "assistant")).to_contain_text(re.compile(r"\w{3}"))
    await expect(page.get_by_test_id("send-button")).to_be_visible()
    saved = await ui.saved_messages(session_id_of(page))
    assert [m["role"] for m in saved] == ["user", "assistant"]
    assert saved[1]["metrics_json"]["status"] == "abandoned"
    assert saved[1]["content"].strip()
    await screenshot(page, "ui_reloaded_mid_answer")


async def test_regenerate_replaces_the_last_answer_here_and_after_reload(
    ui: UiUser, slow: PrivateModels
) -> None:
    await slow.control(SLOW, itl_ms=1)
    page = ui.page
    await open_new_chat(page, SLOW)
    await send(page, "echo: the first answer")
    await wait_answer_done(page)
    await expect(messages(page, "assistant")).to_have_text(re.compile("the first answer"))
    await page.get_by_text("Chat settings").click()
    await page.get_by_label("Max tokens").fill("2")  # the echo is cut: a different answer

    await page.get_by_test_id("regenerate").click()

    await wait_answer_done(page)
    await expect(messages(page, "user")).to_have_count(1)
    await expect(messages(page, "assistant")).to_have_count(1)
    await expect(messages(page, "assistant").locator(".markdown")).to_have_text("the first")
    await expect(messages(page, "assistant").get_by_test_id("message-metrics")).to_contain_text(
        "Tokens: 2"
    )
    await screenshot(page, "ui_regenerated")

    saved = await ui.saved_messages(session_id_of(page))
    assert [m["role"] for m in saved] == ["user", "assistant", "assistant"]
    assert [m["content"] for m in saved if m["role"] == "user"] == ["echo: the first answer"]

    await page.reload()
    await expect(messages(page, "user")).to_have_count(1)
    await expect(messages(page, "assistant")).to_have_count(1)
    await expect(messages(page, "assistant").locator(".markdown")).to_have_text("the first")


async def test_a_second_turn_sends_the_history_and_keeps_the_model(
    ui: UiUser, slow: PrivateModels
) -> None:
    await slow.control(SLOW, itl_ms=1)
    page = ui.page
    await open_new_chat(page, SLOW)
    await send(page, "echo: one")
    await wait_answer_done(page)
    await send(page, "echo: two")
    await wait_answer_done(page)

    await expect(message_bodies(page, "user")).to_have_text(["echo: one", "echo: two"])
    await expect(message_bodies(page, "assistant")).to_have_text(["one", "two"])
    saved = await ui.saved_messages(session_id_of(page))
    assert [m["content"] for m in saved] == ["echo: one", "one", "echo: two", "two"]
    await expect(page.get_by_test_id("model-select")).to_have_value(SLOW)


async def test_a_failed_answer_stays_in_the_chat_and_retry_answers_it(
    ui: UiUser, slow: PrivateModels
) -> None:
    page = ui.page
    await open_new_chat(page, SLOW)
    await slow.control(SLOW, fail_status=500, fail_message="the GPU caught fire")

    await send(page, "Will this work?")

    error = page.get_by_test_id("chat-error")
    await expect(error).to_contain_text("the GPU caught fire")
    await expect(message_bodies(page, "user")).to_have_text(["Will this work?"])  # recorded
    failed = messages(page, "assistant")
    await expect(failed.locator(".badge")).to_have_text("error")
    await expect(failed).to_contain_text("No text was generated.")
    await expect(message_box(page)).to_have_value("")  # the message is in the chat, not lost
    await screenshot(page, "ui_send_failed")

    await slow.control(SLOW, fail_status=None, itl_ms=1)
    await error.get_by_role("button", name="Retry").click()
    await wait_answer_done(page)
    await expect(error).to_have_count(0)
    await expect(message_bodies(page, "user")).to_have_text(["Will this work?"])
    await expect(messages(page, "assistant")).to_have_count(1)
    await expect(messages(page, "assistant").locator(".badge")).to_have_count(0)
    saved = await ui.saved_messages(session_id_of(page))
    assert [m["role"] for m in saved] == ["user", "assistant", "assistant"]
    assert [m["metrics_json"]["status"] for m in saved[1:]] == ["error", "complete"]


async def test_a_network_failure_gives_the_draft_back(ui: UiUser, slow: PrivateModels) -> None:
    page = ui.page
    await open_new_chat(page, SLOW)
    await page.route("**/v1/chat/completions", lambda route: route.abort())

    await send(page, "Is the network there?")

    await expect(page.get_by_test_id("chat-error")).to_contain_text("Network error")
    await expect(message_box(page)).to_have_value("Is the network there?")
    await expect(messages(page)).to_have_count(0)
    await screenshot(page, "ui_network_failure")

    await page.unroute("**/v1/chat/completions")
    await message_box(page).press("Enter")
    await wait_answer_done(page)
    await expect(message_bodies(page, "user")).to_have_text(["Is the network there?"])
    await expect(message_box(page)).to_have_value("")
