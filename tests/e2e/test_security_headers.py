"""Security headers on every answer (UI pages, assets, the API, errors, the completions stream),
the built UI working under its Content-Security-Policy, and who may read the API documents."""

import re

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, expect

from tests.conftest import LoginAs
from tests.support.browser import (
    chromium_fixture,  # noqa: F401 - fixture
    message_box,
    messages,
    new_context,
)
from tests.support.stack import WEB_DIST, Stack

pytestmark = pytest.mark.e2e

MODEL = "sim-vllm-small"
COMPLETION = {"model": MODEL, "messages": [{"role": "user", "content": "Say hi"}]}


def assert_secured(response: httpx.Response) -> None:
    headers = response.headers
    policy = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy, policy
    assert "unsafe-inline" not in policy and "script-src 'self';" in policy, policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in headers  # plain HTTP: HSTS means nothing here


async def test_every_kind_of_answer_carries_the_security_headers(
    stack: Stack, login_as: LoginAs
) -> None:
    client = await login_as()
    asset = next((WEB_DIST / "assets").glob("index-*.js")).name
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as anonymous:
        answers = [
            await anonymous.get("/chat"),
            await anonymous.get("/login"),
            await anonymous.get(f"/assets/{asset}"),
            await anonymous.get("/auth/me"),  # 401
            await anonymous.get("/no/such/page"),  # 404
            await anonymous.post("/auth/login", content=b"x" * 200_000),  # 413
            await anonymous.post("/v1/chat/completions", json=COMPLETION),  # 401, fast path
        ]
    answers.append(await client.get("/v1/chat/sessions"))
    answers.append(await client.post("/v1/chat/completions", json=COMPLETION))
    async with client.stream(
        "POST", "/v1/chat/completions", json={**COMPLETION, "stream": True}
    ) as streamed:
        assert streamed.status_code == 200
        assert streamed.headers["content-type"].startswith("text/event-stream")
        assert "data: [DONE]" in (await streamed.aread()).decode()
    answers.append(streamed)

    for answer in answers:
        assert_secured(answer)
    assert [a.status_code for a in answers] == [200, 200, 200, 401, 404, 413, 401, 200, 200, 200]


async def test_hsts_only_over_tls_as_a_trusted_proxy_tells_it(stack: Stack) -> None:
    """X-Forwarded-Proto is believed from CORTEX_GATEWAY_TRUSTED_PROXIES only (none by default,
    as the shared stack runs)."""
    trusting = stack.start_extra("gateway", CORTEX_GATEWAY_TRUSTED_PROXIES="127.0.0.1")
    https = {"X-Forwarded-Proto": "https"}
    async with httpx.AsyncClient(timeout=30) as client:
        from_proxy = await client.get(f"{trusting.url}/login", headers=https)
        completion = await client.post(
            f"{trusting.url}/v1/chat/completions", json=COMPLETION, headers=https
        )
        not_from_proxy = await client.get(f"{stack.gateway_url}/login", headers=https)

    for answer in (from_proxy, completion):
        assert answer.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in not_from_proxy.headers


async def test_api_documents_need_a_login_unless_made_public(
    stack: Stack, login_as: LoginAs
) -> None:
    client = await login_as()
    public = stack.start_extra("gateway", CORTEX_GATEWAY_API_DOCS_PUBLIC="true")
    async with httpx.AsyncClient(timeout=30) as anonymous:
        refused = [
            await anonymous.get(f"{stack.gateway_url}/openapi.json"),
            await anonymous.get(f"{stack.gateway_url}/docs"),
        ]
        open_document = await anonymous.get(f"{public.url}/openapi.json")
    document = await client.get("/openapi.json")
    docs_page = await client.get("/docs")

    assert [answer.status_code for answer in refused] == [401, 401]
    assert open_document.status_code == 200
    assert document.status_code == 200
    assert "/v1/chat/completions" in document.json()["paths"]
    assert docs_page.status_code == 200 and "swagger-ui" in docs_page.text
    # Its policy allows exactly its one inline script (by hash) and the CDN it loads from.
    policy = docs_page.headers["Content-Security-Policy"]
    assert re.search(r"script-src 'self' https://cdn\.jsdelivr\.net 'sha256-[^']+'", policy)
    assert "frame-ancestors 'none'" in policy


async def test_the_ui_works_under_its_content_security_policy(
    chromium: Browser, stack: Stack
) -> None:
    username, password = stack.create_user()
    context = await new_context(chromium, stack.gateway_url)
    violations: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    page = await context.new_page()
    page.on("console", on_console)
    try:
        await page.goto("/login")
        await page.get_by_label("Username").fill(username)
        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page).to_have_url(re.compile(r"/chat"))
        await page.get_by_test_id("model-select").select_option(MODEL)
        await message_box(page).fill("echo: **bold** and `code`\n\n```python\nprint(1)\n```")
        await message_box(page).press("Enter")
        await expect(messages(page, "assistant").last).not_to_have_attribute("aria-busy", "true")
        await expect(messages(page, "assistant").last.locator("strong")).to_have_text("bold")
        await expect(messages(page, "assistant").last.locator("pre code")).to_contain_text("print")
    finally:
        await context.close()

    assert violations == []
