"""Compare in a real browser against the real stack: three models side by side over two turns,
restored after a reload; a blind vote on the leaderboard; one model failing mid-stream while the
others finish; Stop stopping every pane."""

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Locator, Page, expect

from tests.support.browser import (
    UiUser,
    chromium_fixture,  # noqa: F401 - fixture
    screenshot,
    ui_fixture,  # noqa: F401 - fixture
)
from tests.support.clients import login
from tests.support.completions import PrivateModels, private_models
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

ALPHA, BETA, GAMMA = "cmp-alpha-vllm", "cmp-beta-vllm", "cmp-gamma-llamacpp"
ANSWER_TOKENS = 40
SERVER_FIGURES = re.compile(r"TTFT \d[\d,]*ms · [\d,.]+ tok/s · ITL p50 [\d,]+ms · Tokens \d+")
COMPARISON_URL = re.compile(r"/compare/[0-9a-f-]{36}$")


@pytest.fixture(scope="module")
async def three_models(stack: Stack) -> AsyncIterator[PrivateModels]:
    admin = await login(stack.gateway_url, "admin", stack.admin_password)
    models = [
        {"name": ALPHA, "personality": "vllm", "ttft_ms": 60},
        {"name": BETA, "personality": "vllm", "ttft_ms": 120},
        {"name": GAMMA, "personality": "llamacpp", "ttft_ms": 90},
    ]
    try:
        async with private_models(stack, admin, models) as running:
            yield running
    finally:
        await admin.aclose()


@pytest.fixture
async def models(three_models: PrivateModels) -> AsyncIterator[PrivateModels]:
    for name in three_models.names:
        await three_models.control(name, itl_ms=15, output_tokens=ANSWER_TOKENS)
    yield three_models
    for name in three_models.names:
        await three_models.reset(name)


async def start_comparison(page: Page, *models: str, blind: bool = False) -> None:
    await page.goto("/compare")
    selects = page.get_by_test_id("pane-model-select")
    await expect(selects).to_have_count(2)  # a new comparison starts with two panes
    for count in range(3, len(models) + 1):
        await page.get_by_test_id("add-pane").click()
        await expect(selects).to_have_count(count)
    for index, model in enumerate(models):
        select = page.get_by_test_id("pane-model-select").nth(index)
        await select.select_option(model)
        await expect(select).to_have_value(model)
    if blind:
        await page.get_by_test_id("blind-mode").check()


async def send(page: Page, prompt: str) -> None:
    await page.get_by_test_id("compare-prompt").fill(prompt)
    await page.get_by_test_id("compare-prompt").press("Enter")


def answers(page: Page, pane: int) -> Locator:
    return (
        page.get_by_test_id("compare-pane")
        .nth(pane)
        .locator('[data-testid="pane-message"][data-role="assistant"]')
    )


async def turn_done(page: Page, turns: int, panes: int) -> None:
    await expect(page.get_by_test_id("compare-send")).to_be_visible()
    for pane in range(panes):
        await expect(answers(page, pane)).to_have_count(turns)


async def test_three_models_answer_two_turns_side_by_side_and_come_back_after_reload(
    ui: UiUser, models: PrivateModels
) -> None:
    page = ui.page
    await start_comparison(page, ALPHA, BETA, GAMMA)
    await send(page, "Tell me about caching")

    await expect(page.get_by_test_id("compare-stop")).to_be_visible()
    await expect(page).to_have_url(COMPARISON_URL)
    await expect(page.get_by_test_id("compare-pane")).to_have_count(3)
    live = page.get_by_test_id("pane-perf").first
    await expect(live).to_have_text(re.compile(r"tok/s \| TTFT: \d[\d,]*ms \| Tokens: \d+ \| ITL:"))
    await turn_done(page, turns=1, panes=3)
    await send(page, "And what about invalidation?")
    await turn_done(page, turns=2, panes=3)

    for pane, model in enumerate((ALPHA, BETA, GAMMA)):
        box = page.get_by_test_id("compare-pane").nth(pane)
        await expect(box.get_by_test_id("pane-model")).to_have_text(model)
        await expect(box.get_by_test_id("pane-message-metrics")).to_have_count(2)
        await expect(box.get_by_test_id("pane-message-metrics").last).to_have_text(SERVER_FIGURES)
        await expect(box.get_by_test_id("pane-perf")).to_have_text(SERVER_FIGURES)
    comparison_id = page.url.rsplit("/", 1)[-1]
    saved = await (await ui.context.request.get(f"/v1/comparisons/{comparison_id}")).json()
    for pane in saved["panes"]:
        prompts = [m["content"] for m in pane["messages"] if m["role"] == "user"]
        assert prompts == ["Tell me about caching", "And what about invalidation?"]
        assert [m["role"] for m in pane["messages"]] == ["user", "assistant"] * 2
    await screenshot(page, "ui_compare_three_models")

    await page.reload()
    await turn_done(page, turns=2, panes=3)
    await expect(page.get_by_test_id("pane-model").nth(2)).to_have_text(GAMMA)
    await page.goto("/chat")
    history = page.get_by_test_id("comparison-item")
    await expect(history).to_have_count(1)
    await expect(history).to_contain_text("Compare")
    await expect(page.get_by_test_id("chat-item")).to_have_count(0)


async def test_a_blind_vote_reveals_the_models_and_shows_on_the_leaderboard(
    ui: UiUser, models: PrivateModels
) -> None:
    page = ui.page
    await start_comparison(page, ALPHA, BETA, blind=True)
    await send(page, "Which is faster, a cache or a database?")
    await turn_done(page, turns=1, panes=2)
    labels = page.get_by_test_id("pane-model")
    await expect(labels).to_have_text(["hidden until you vote"] * 2)
    content = await page.content()
    assert ALPHA not in content and BETA not in content, "no model name on the page before the vote"

    await page.get_by_role("button", name="Model A is better").click()

    await expect(page.get_by_test_id("vote-result")).to_contain_text("You preferred Model A")
    await expect(labels.first).to_have_text(re.compile(f"^({ALPHA}|{BETA})$"))
    winner = await labels.first.inner_text()
    loser = BETA if winner == ALPHA else ALPHA
    await page.get_by_role("link", name="Leaderboard").click()
    rows = page.get_by_test_id("leaderboard-row")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text(winner)
    await expect(rows.last).to_contain_text(loser)
    await expect(page.get_by_test_id("pair-row")).to_have_count(1)
    await expect(page.get_by_test_id("leaderboard-summary")).to_have_text("1 votes · 1 battles")
    await screenshot(page, "ui_leaderboard")


async def test_one_model_failing_mid_stream_leaves_the_others_answering(
    ui: UiUser, models: PrivateModels
) -> None:
    await models.control(GAMMA, drop_after_tokens=5, output_tokens=400, itl_ms=10)
    page = ui.page
    await start_comparison(page, ALPHA, GAMMA, BETA)
    await send(page, "Explain consistent hashing")

    failing = page.get_by_test_id("compare-pane").nth(1)
    await expect(failing.get_by_test_id("pane-error")).to_be_visible()
    await expect(page.get_by_test_id("compare-send")).to_be_visible()
    for pane in (0, 2):
        box = page.get_by_test_id("compare-pane").nth(pane)
        await expect(box.get_by_test_id("pane-error")).to_have_count(0)
        await expect(box.get_by_test_id("pane-message-metrics")).to_have_text(SERVER_FIGURES)
    await expect(failing.locator(".badge-error")).to_be_visible()
    await screenshot(page, "ui_compare_one_pane_failed")


async def test_stop_stops_every_pane_and_keeps_their_partial_answers(
    ui: UiUser, models: PrivateModels
) -> None:
    for name in (ALPHA, BETA):
        await models.control(name, output_tokens=5000, itl_ms=20)
    page = ui.page
    await start_comparison(page, ALPHA, BETA)
    await send(page, "Write a very long essay")
    for pane in (0, 1):
        streaming = answers(page, pane).last
        await expect(streaming).to_contain_text(re.compile(r"\w{3}"))

    await page.get_by_test_id("compare-stop").click()

    await expect(page.get_by_test_id("compare-send")).to_be_visible()
    for pane in (0, 1):
        await expect(answers(page, pane)).to_have_count(1)
        await expect(answers(page, pane).locator(".badge")).to_have_text("stopped")
