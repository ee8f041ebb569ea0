"""Headless Chromium (Debian's package) driven by Playwright, as the guide asks.

Fixtures for the UI tests live here too; a test module imports the ones it uses, e.g.
`from tests.support.browser import chromium_fixture, ui_fixture  # noqa: F401`, and asks for them
by their names `chromium` and `ui`.
"""

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    async_playwright,
    expect,
)

from tests.support.clients import CSRF_COOKIE
from tests.support.processes import ARTIFACTS
from tests.support.stack import WEB_DIST, Stack

SCREENSHOTS = ARTIFACTS / "screenshots"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous: the machine is a noisy 2-core box; these bound waits, they measure nothing.
UI_TIMEOUT_MS = 30_000
expect.set_options(timeout=UI_TIMEOUT_MS)  # Playwright's default, 5 s, is for a quiet machine
WIDE, NARROW = 1280, 390


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise RuntimeError("chromium is not installed: `make browser` (apt-get install chromium)")
    return found


@asynccontextmanager
async def launch_browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def new_context(browser: Browser, base_url: str, width: int = WIDE) -> BrowserContext:
    context = await browser.new_context(
        base_url=base_url, viewport={"width": width, "height": 900}, accept_downloads=True
    )
    context.set_default_timeout(UI_TIMEOUT_MS)
    return context


async def screenshot(page: Page, name: str) -> Path:
    """The whole page, also what the app's own scrolling main area hides below the fold."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    viewport = page.viewport_size
    hidden = await page.evaluate(
        "(() => { const m = document.querySelector('.app-main:not(:has(.chat-page))');"
        " return m ? m.scrollHeight - m.clientHeight : 0; })()"
    )
    if viewport and hidden > 0:
        await page.set_viewport_size({**viewport, "height": viewport["height"] + int(hidden)})
    try:
        await page.screenshot(path=str(path), full_page=True, animations="disabled")
    finally:
        if viewport and hidden > 0:
            await page.set_viewport_size(viewport)
    return path


def require_web_build(gateway_url: str) -> None:
    """Fail (never skip) with the fix when the UI is not built or the gateway does not serve it."""
    if not (WEB_DIST / "index.html").is_file():
        pytest.fail(
            f"{WEB_DIST / 'index.html'} is missing: build the web UI first "
            "(`make web`, or `cd web && npm ci && npm run build`)",
            pytrace=False,
        )
    page = httpx.get(f"{gateway_url}/chat", timeout=10)
    if page.status_code != 200 or '<div id="root">' not in page.text:
        pytest.fail(
            f"the gateway does not serve the built UI at /chat ({page.status_code}); "
            "check CORTEX_GATEWAY_WEB_DIST",
            pytrace=False,
        )


# --- a user in a browser -----------------------------------------------------------------------
@dataclass
class UiUser:
    """One user's browser context (cookies shared by its pages), logged in through the API."""

    browser: Browser
    base_url: str
    username: str
    password: str
    context: BrowserContext
    page: Page

    async def new_page(self) -> Page:
        return await self.context.new_page()

    async def second_device(self, width: int = WIDE) -> "UiUser":
        """Another browser context (no shared cookies: a second device), same user."""
        return await open_ui(self.browser, self.base_url, self.username, self.password, width)

    async def saved_messages(self, session_id: str) -> list[dict[str, Any]]:
        """What the server saved in a chat, read with this browser's own cookies."""
        answer = await self.context.request.get(f"/v1/chat/sessions/{session_id}")
        assert answer.ok, await answer.text()
        return list((await answer.json())["messages"])

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """A JSON POST as the page would send it (cookies and the CSRF header)."""
        csrf = next(c["value"] for c in await self.context.cookies() if c["name"] == CSRF_COOKIE)
        answer = await self.context.request.post(path, data=body, headers={"X-CSRF-Token": csrf})
        assert answer.ok, await answer.text()
        return dict(await answer.json())

    async def create_chat(self, model: str, title: str, *turns: tuple[str, str]) -> str:
        """A chat made through the API, with (role, content) messages; returns its id."""
        session = await self.post("/v1/chat/sessions", {"model_name": model, "title": title})
        for role, content in turns:
            await self.post(
                f"/v1/chat/sessions/{session['id']}/messages", {"role": role, "content": content}
            )
        return str(session["id"])

    async def close(self) -> None:
        await self.context.close()


async def open_ui(
    browser: Browser, base_url: str, username: str, password: str, width: int = WIDE
) -> UiUser:
    context = await new_context(browser, base_url, width)
    answer = await context.request.post(
        "/auth/login", data={"username": username, "password": password}
    )
    assert answer.ok, await answer.text()
    page = await context.new_page()
    return UiUser(browser, base_url, username, password, context, page)


@pytest.fixture(scope="session", name="chromium")
async def chromium_fixture(stack: Stack) -> AsyncIterator[Browser]:
    require_web_build(stack.gateway_url)
    async with launch_browser() as browser:
        yield browser


@pytest.fixture(name="ui")
async def ui_fixture(chromium: Browser, stack: Stack) -> AsyncIterator[UiUser]:
    """A new user, logged in, with a 1280 px wide page."""
    username, password = stack.create_user()
    user = await open_ui(chromium, stack.gateway_url, username, password)
    try:
        yield user
    finally:
        await user.close()


# --- page helpers ------------------------------------------------------------------------------
def message_box(page: Page) -> Locator:
    return page.get_by_role("textbox", name="Message")


def messages(page: Page, role: str | None = None) -> Locator:
    selector = '[data-testid="message"]' + (f'[data-role="{role}"]' if role else "")
    return page.locator(selector)


def message_bodies(page: Page, role: str | None = None) -> Locator:
    """The text of messages, without their header and buttons."""
    return messages(page, role).locator(":scope > .markdown, :scope > .msg-text")


async def no_horizontal_overflow(page: Page) -> bool:
    return bool(await page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth"))
