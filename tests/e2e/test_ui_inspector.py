"""The inspector in a real browser against the real stack and a simulated model: tokens with
their alternatives, the raw exchange and its curl run against the gateway, a schema batch with
the simulator's broken mode, a tool call answered by hand, presets applied."""

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, expect

from tests.support.browser import (
    UiUser,
    chromium_fixture,  # noqa: F401 - fixture
    message_bodies,
    message_box,
    messages,
    screenshot,
    ui_fixture,  # noqa: F401 - fixture
)
from tests.support.chat import WEATHER_TOOL
from tests.support.clients import login
from tests.support.completions import PrivateModels, new_api_key, parse_sse, private_models, unique
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

ENGINE_KEY = "sk-engine-secret-0815"
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "temperature": {"type": "number"}},
    "required": ["city", "temperature"],
}
TOOLS = [WEATHER_TOOL]


@pytest.fixture(scope="module")
async def sim(stack: Stack) -> AsyncIterator[tuple[PrivateModels, str]]:
    admin = await login(stack.gateway_url, "admin", stack.admin_password)
    name = unique("ui-insp")
    spec = {"name": name, "personality": "vllm", "ttft_ms": 5, "itl_ms": 2, "output_tokens": 30}
    # A server that ignores `logprobs`, as some llama.cpp builds do.
    plain = {**spec, "name": f"{name}-nolp", "personality": "llamacpp", "logprobs": False}
    # One that answers `tools` in text unless `tool_choice` names one (llama-cpp-python's server).
    no_tools = {**spec, "name": f"{name}-notools", "tool_calls_auto": False}
    models = [spec, plain, no_tools]
    try:
        async with private_models(stack, admin, models, api_key=ENGINE_KEY) as private:
            yield private, name
    finally:
        await admin.aclose()


@pytest.fixture
async def model(sim: tuple[PrivateModels, str]) -> AsyncIterator[str]:
    private, name = sim
    await private.reset(name)
    yield name
    await private.reset(name)


async def open_chat(page: Page, model: str) -> None:
    await page.goto("/chat")
    await page.get_by_test_id("model-select").select_option(model)
    await expect(page.get_by_test_id("model-select")).to_have_value(model)


async def open_inspector(page: Page) -> None:
    panel = page.get_by_test_id("inspector-panel")
    if await panel.get_attribute("open") is None:
        await panel.locator("summary").click()


async def send(page: Page, text: str, answers: int) -> None:
    await message_box(page).fill(text)
    await message_box(page).press("Enter")
    await expect(messages(page, "assistant")).to_have_count(answers)
    await expect(page.get_by_test_id("send-button")).to_be_visible()


async def test_tokens_with_alternatives_and_the_raw_exchange_whose_curl_reproduces_it(
    ui: UiUser, model: str, stack: Stack
) -> None:
    page = ui.page
    await ui.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await open_chat(page, model)
    await send(page, "echo: The quick brown fox jumps", answers=1)
    answer = messages(page, "assistant").last

    await answer.get_by_test_id("toggle-tokens").click()
    tokens = answer.get_by_test_id("token")
    await expect(tokens).to_have_count(5)
    await expect(tokens).to_have_text(["The", " quick", " brown", " fox", " jumps"])
    await tokens.nth(2).hover()
    alternatives = answer.get_by_test_id("token-alternatives")
    await expect(alternatives).to_be_visible()
    await expect(alternatives.get_by_test_id("token-alternative")).to_have_count(5)
    await expect(alternatives.get_by_test_id("token-alternative").first).to_contain_text(
        re.compile(r'" brown" \d+%')
    )
    await screenshot(page, "ui_inspector_tokens")

    # The prompt side: its tokens on demand, from the engine's tokenizer (template included).
    await open_inspector(page)
    await page.get_by_test_id("show-prompt-tokens").click()
    prompt = page.get_by_test_id("prompt-token")
    # The chat so far: 7 + 5 tokens, 4 of the template per message, 3 to open the next answer.
    await expect(prompt).to_have_count(23)
    await expect(prompt.nth(9)).to_have_text("jumps")
    await expect(page.get_by_test_id("prompt-tokens")).to_contain_text("23 tokens")
    await page.get_by_test_id("inspector-panel").locator("summary").click()

    await answer.get_by_test_id("toggle-raw").click()
    request = answer.get_by_test_id("raw-request")
    await expect(request).to_contain_text("Authorization: Bearer ***")
    await expect(request).to_contain_text('"top_logprobs": 5')
    await expect(answer.get_by_test_id("raw-response")).to_contain_text("HTTP 200")
    await expect(answer.get_by_test_id("raw-last-chunk")).to_contain_text('"usage"')
    await expect(answer.get_by_test_id("raw-params")).to_contain_text('"seed"')
    assert ENGINE_KEY not in await page.content()
    await answer.get_by_test_id("copy-curl").click()
    await expect(answer.get_by_role("status")).to_have_text("Copied curl")
    curl = str(await page.evaluate("navigator.clipboard.readText()"))
    assert curl == await answer.get_by_test_id("raw-curl").inner_text()
    await screenshot(page, "ui_inspector_raw_exchange")

    # The copied command, run as is with an API key of the user's: the same answer.
    admin = await login(stack.gateway_url, "admin", stack.admin_password)
    try:
        me = await ui.context.request.get("/auth/me")
        key = await new_api_key(admin, (await me.json())["id"])
    finally:
        await admin.aclose()
    process = await asyncio.create_subprocess_exec(
        "bash", "-c", curl,
        env={**os.environ, "CORTEX_API_KEY": key},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    chunks = [e.json() for e in parse_sse(out.decode()) if e.data != "[DONE]"]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "The quick brown fox jumps"
    assert any(c["choices"] and c["choices"][0].get("logprobs") for c in chunks)

    # And the Python snippet, with the openai SDK.
    python = await answer.get_by_test_id("raw-python").inner_text()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", python,
        env={**os.environ, "CORTEX_API_KEY": key},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    assert out.decode().strip() == "The quick brown fox jumps"


async def test_a_model_that_returns_no_logprobs_says_so(
    ui: UiUser, sim: tuple[PrivateModels, str]
) -> None:
    page = ui.page
    await open_chat(page, f"{sim[1]}-nolp")
    await send(page, "echo: hello there", answers=1)
    answer = messages(page, "assistant").last
    await answer.get_by_test_id("toggle-tokens").click()
    note = answer.get_by_test_id("tokens-unavailable")
    await expect(note).to_contain_text(f"{sim[1]}-nolp did not return token probabilities")
    await expect(answer.get_by_test_id("token")).to_have_count(0)
    await screenshot(page, "ui_inspector_no_logprobs")


async def test_tools_answered_in_text_say_the_server_may_not_support_tool_calls(
    ui: UiUser, sim: tuple[PrivateModels, str]
) -> None:
    page = ui.page
    await open_chat(page, f"{sim[1]}-notools")
    await open_inspector(page)
    await page.get_by_test_id("tools-input").fill(json.dumps(TOOLS))
    await page.get_by_test_id("send-tools").check()
    await send(page, "What is the weather in Oslo?", answers=1)
    answer = messages(page, "assistant").last
    note = answer.get_by_test_id("no-tool-call")
    await expect(note).to_contain_text(f"{sim[1]}-notools answered without a tool call")
    await expect(note).to_contain_text("does not support tool calls")
    await expect(answer.get_by_test_id("tool-call")).to_have_count(0)
    await screenshot(page, "ui_inspector_no_tool_call")


async def test_a_schema_batch_of_20_reports_the_broken_modes_rate_and_is_kept_with_the_chat(
    ui: UiUser, model: str, sim: tuple[PrivateModels, str]
) -> None:
    private, _ = sim
    await private.control(model, break_rate=0.25, break_seed=3)  # the 1st, then 5 of the next 20
    page = ui.page
    await open_chat(page, model)
    await open_inspector(page)
    await page.get_by_test_id("schema-input").fill(json.dumps(SCHEMA))
    await page.get_by_test_id("ask-schema").check()
    await send(page, "The weather in Oslo, as JSON", answers=1)
    verdict = messages(page, "assistant").last.get_by_test_id("schema-verdict")
    await expect(verdict).to_contain_text("fail")
    await expect(verdict).to_contain_text("/city")

    await expect(page.get_by_test_id("batch-runs")).to_have_value("20")
    await page.get_by_test_id("run-batch").click()
    report = page.get_by_test_id("batch-report")
    await expect(page.get_by_test_id("batch-rate")).to_have_text("15/20 valid (75%)")
    await expect(report).to_contain_text(re.compile(r"p50 \d"))
    await expect(report).to_contain_text("/city")
    await screenshot(page, "ui_inspector_schema_batch")

    await page.reload()
    await open_inspector(page)
    await expect(page.get_by_test_id("batch-rate")).to_have_text("15/20 valid (75%)")
    await expect(page.get_by_test_id("schema-input")).to_have_value(re.compile('"temperature"'))
    await expect(page.get_by_test_id("ask-schema")).to_be_checked()


async def test_a_tool_call_answered_by_hand_goes_on_with_the_conversation(
    ui: UiUser, model: str
) -> None:
    page = ui.page
    await open_chat(page, model)
    await open_inspector(page)
    await page.get_by_test_id("tools-input").fill(json.dumps(TOOLS))
    await page.get_by_test_id("send-tools").check()
    await send(page, "What is the weather in Oslo?", answers=1)

    call = messages(page, "assistant").last.get_by_test_id("tool-call")
    await expect(call).to_contain_text("get_weather")
    await expect(call.get_by_test_id("tool-call-check")).to_have_text("pass")
    await call.get_by_test_id("tool-answer").fill('{"sky": "rain", "celsius": 9}')
    await screenshot(page, "ui_inspector_tool_call")
    await call.get_by_test_id("send-tool-answer").click()

    await expect(messages(page, "assistant")).to_have_count(2)
    await expect(messages(page, "tool")).to_have_count(1)
    await expect(message_bodies(page, "assistant").last).to_contain_text(
        '{"sky": "rain", "celsius": 9}'
    )
    await expect(page.get_by_test_id("send-button")).to_be_visible()
    session_id = page.url.rsplit("/", 1)[-1]
    saved = await ui.saved_messages(session_id)
    assert [m["role"] for m in saved] == ["user", "assistant", "tool", "assistant"]
    await screenshot(page, "ui_inspector_tool_answered")

    # A reload keeps the whole exchange (the answers' calls and the tool result are stored).
    await page.reload()
    await expect(messages(page)).to_have_count(4)
    await expect(messages(page, "assistant").first.get_by_test_id("tool-call")).to_contain_text(
        "get_weather"
    )


async def test_presets_saved_and_shared_in_the_org_are_applied(
    ui: UiUser, model: str, stack: Stack
) -> None:
    # Another member of the org shares one.
    name, password = stack.create_user()
    other = await login(stack.gateway_url, name, password)
    try:
        shared = {
            "name": unique("team-json"),
            "shared": True,
            "preset": {
                "system_prompt": "Answer as JSON.", "temperature": 0.2, "top_p": 0.9,
                "max_tokens": 300, "seed": 1234, "logprobs": True, "top_logprobs": 3,
                "output_schema": SCHEMA, "tools": None,
            },
        }  # fmt: skip
        assert (await other.post("/v1/presets", json=shared)).status_code == 201
    finally:
        await other.aclose()

    page = ui.page
    await open_chat(page, model)
    await open_inspector(page)
    select = page.get_by_test_id("preset-select")
    await expect(select.locator("option", has_text=shared["name"])).to_have_text(
        f"{shared['name']} (shared in your org)"
    )
    await select.select_option(label=f"{shared['name']} (shared in your org)")
    await page.get_by_test_id("apply-preset").click()
    await expect(page.locator("#system-prompt")).to_have_value("Answer as JSON.")
    await expect(page.locator("#temperature")).to_have_value("0.2")
    await expect(page.get_by_test_id("seed-input")).to_have_value("1234")
    await expect(page.get_by_test_id("schema-input")).to_have_value(re.compile('"city"'))
    await expect(page.get_by_test_id("ask-schema")).to_be_checked()

    # Saved as the user's own, then applied in a new chat.
    await page.locator(".chat-settings:not(.inspector-panel) summary").click()
    await page.locator("#temperature").fill("1.1")
    await page.get_by_test_id("preset-name").fill("my warm one")
    await page.get_by_test_id("save-preset").click()
    await expect(select.locator("option", has_text="my warm one")).to_have_count(1)
    await screenshot(page, "ui_inspector_presets")
    await page.goto("/chat")
    await page.get_by_test_id("model-select").select_option(model)
    await open_inspector(page)
    await page.get_by_test_id("preset-select").select_option(label="my warm one")
    await page.get_by_test_id("apply-preset").click()
    await expect(page.locator("#temperature")).to_have_value("1.1")
    await expect(page.locator("#system-prompt")).to_have_value("Answer as JSON.")

    # Sent with the preset's parameters: the answer keeps them.
    await send(page, "Weather in Oslo", answers=1)
    answer = messages(page, "assistant").last
    await answer.get_by_test_id("toggle-raw").click()
    params = answer.get_by_test_id("raw-params")
    await expect(params).to_contain_text('"seed": 1234')
    await expect(params).to_contain_text('"temperature": 1.1')
    await expect(params).to_contain_text('"response_format": "json_schema"')
