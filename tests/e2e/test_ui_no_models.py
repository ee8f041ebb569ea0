"""The model selector follows health: "No models running" once every health entry has expired."""

import re

import pytest
from playwright.async_api import expect

from tests.conftest import LoginAs
from tests.support.browser import (
    UiUser,
    chromium_fixture,  # noqa: F401 - fixture
    message_box,
    screenshot,
    ui_fixture,  # noqa: F401 - fixture
)
from tests.support.completions import eventually, running_names
from tests.support.processes import ServiceProcess
from tests.support.stack import TEST_MODELS, Stack

pytestmark = pytest.mark.e2e

MODEL_NAMES = {str(model["name"]) for model in TEST_MODELS}
# The page polls /v1/models/running every 10 s: one poll and a margin.
SELF_REFRESH_MS = 45_000


async def test_no_models_running_when_health_is_gone_and_back_by_itself(
    stack: Stack, ui: UiUser, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    page = ui.page
    await page.goto("/chat")
    await expect(page.get_by_test_id("model-select")).to_be_visible()
    await message_box(page).fill("Is anyone there?")

    stack.processes["health"].kill()  # its entries expire after CORTEX_HEALTH_CHECK_TTL_SEC
    try:

        async def none_running() -> bool:
            return not await running_names(admin)

        await eventually(none_running, "every model's health entry expired")
        no_models = page.get_by_test_id("no-models")
        await expect(no_models).to_be_visible(timeout=SELF_REFRESH_MS)
        await expect(no_models).to_contain_text("No models running")
        await expect(no_models.get_by_role("link", name="Models page")).to_have_attribute(
            "href", "/models"
        )
        await expect(page.get_by_test_id("model-select")).to_have_count(0)
        await expect(page.get_by_test_id("send-button")).to_be_disabled()
        await expect(message_box(page)).to_have_value("Is anyone there?")  # the draft is kept
        await screenshot(page, "ui_no_models_running")
    finally:
        stack.processes["health"] = ServiceProcess("health", stack.env).start()

    async def all_back() -> bool:
        return await running_names(admin) >= MODEL_NAMES

    await eventually(all_back, "the stack's models healthy again")
    select = page.get_by_test_id("model-select")
    await expect(select).to_be_visible(timeout=SELF_REFRESH_MS)
    await expect(select).to_have_value(re.compile("^sim-"))
    await expect(page.get_by_test_id("no-models")).to_have_count(0)
    await expect(page.get_by_test_id("send-button")).to_be_enabled()
