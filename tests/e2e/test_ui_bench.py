"""Benchmark runs in a browser: started from the Models page, measured at three levels and
charted, cancelled mid-run (the simulator sees no new request), compared with an earlier run."""

import asyncio
import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.support.bench import allow_everyone, wait_for_run
from tests.support.browser import (
    UiUser,
    chromium_fixture,  # noqa: F401 - fixture
    open_ui,
    screenshot,
)
from tests.support.clients import login
from tests.support.simulator import control, state_of
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

MODEL = "sim-vllm-small"
RUN_URL = re.compile(r"/bench/runs/[0-9a-f-]{36}$")


@pytest.fixture
async def admin_ui(chromium: Browser, stack: Stack) -> AsyncIterator[UiUser]:
    ui = await open_ui(chromium, stack.gateway_url, "admin", stack.admin_password)
    try:
        yield ui
    finally:
        await ui.close()


@pytest.fixture
async def simulator(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.simulator_url, timeout=10) as client:
        yield client
        await client.post(f"/_control/{MODEL}/reset")


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    client = await login(stack.gateway_url, "admin", stack.admin_password)
    await allow_everyone(client)
    yield client
    await client.aclose()


async def start_from_models_page(page: Page, levels: str, requests: str) -> None:
    await page.goto("/models")
    await page.get_by_role("link", name=f"Benchmark {MODEL}").click()
    await expect(page.get_by_role("heading", name=re.compile("New benchmark run"))).to_be_visible()
    await page.get_by_label("Levels").fill(levels)
    await page.get_by_label("Requests per level").fill(requests)
    await page.get_by_label("Output tokens (max)").fill("16")
    await page.get_by_role("button", name="Start run").click()
    await expect(page).to_have_url(RUN_URL)


def run_status(page: Page, status: str) -> Locator:
    """The run's own status, in its heading (the page also lists other runs of the model)."""
    heading = page.get_by_role("heading", name=re.compile("Benchmark run on"))
    return heading.locator(f".badge.run-{status}")


def chart(page: Page, name: str) -> Locator:
    return page.get_by_role("img", name=re.compile(name))


async def test_a_run_with_three_levels_is_charted_and_compared_with_an_earlier_one(
    admin_ui: UiUser, api: httpx.AsyncClient
) -> None:
    earlier = await api.post(
        "/v1/bench/runs",
        json={"model": MODEL, "levels": [1, 2, 4], "requests_per_level": 4, "output_tokens": 8},
    )
    assert earlier.status_code == 202, earlier.text
    await wait_for_run(api, earlier.json()["id"])

    page = admin_ui.page
    await start_from_models_page(page, "1,2,4", "6")
    await expect(run_status(page, "complete")).to_be_visible(timeout=60_000)
    rows = page.get_by_role("table", name="Results per level").locator("tbody tr")
    await expect(rows).to_have_count(3)
    await expect(rows.nth(2).locator("td").first).to_have_text("4")
    for name in ("Requests per second", "Tokens per second", "TTFT, TPOT and E2EL", "engine's"):
        await expect(chart(page, name)).to_be_visible()
    ttft = page.get_by_role("columnheader", name=re.compile("TTFT"))
    assert "first streamed chunk" in (await ttft.locator("abbr").get_attribute("title") or "")
    tpot = page.get_by_role("columnheader", name=re.compile("TPOT")).locator("abbr")
    assert "GuideLLM" in (await tpot.get_attribute("title") or "")

    await page.get_by_label("Compare with").select_option(index=1)
    await expect(chart(page, "Requests per second")).to_have_attribute(
        "aria-label", re.compile(r"A: req/s; B .*: req/s")
    )
    await screenshot(page, "bench-run")


async def test_cancel_stops_the_load(
    admin_ui: UiUser, api: httpx.AsyncClient, simulator: httpx.AsyncClient
) -> None:
    await control(simulator, MODEL, itl_ms=20)
    page = admin_ui.page
    await start_from_models_page(page, "4,8", "400")
    await expect(page.get_by_role("progressbar", name="Run progress")).to_be_visible()
    deadline = time.monotonic() + 30
    while (await state_of(simulator, MODEL))["completed_streams"] < 4:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    await screenshot(page, "bench-run-in-progress")
    await page.get_by_role("button", name="Cancel run").click()
    await expect(run_status(page, "cancelled")).to_be_visible()
    await expect(page.get_by_role("cell", name=re.compile("cancelled"))).to_be_visible()
    deadline = time.monotonic() + 10
    while (await state_of(simulator, MODEL))["active_streams"]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    seen = (await state_of(simulator, MODEL))["requests_total"]
    await asyncio.sleep(1.0)
    assert (await state_of(simulator, MODEL))["requests_total"] == seen
