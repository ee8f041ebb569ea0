"""Failures of model servers and of clients, through real processes: OpenAI-shaped errors before
streaming, a clean end after a mid-stream failure, and a client disconnect that cancels the
upstream request. Each test has a simulated model of its own (faults and circuit breakers stay
apart); the simulator's control API tells what the upstream saw."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest

from tests.support.clients import login
from tests.support.completions import (
    PrivateModels,
    chat_body,
    eventually,
    new_api_key,
    private_models,
    read_sse,
    register,
    running_names,
    unique,
    usage_event,
    user_id_of,
)
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

LONG = 5000  # tokens: far more than any test waits for
ROLES = ("drop", "fail", "slow", "hang", "down", "sdkdrop", "nonstream")


@dataclass
class Faulty:
    models: PrivateModels
    names: dict[str, str]  # test role -> model name

    def __getitem__(self, role: str) -> str:
        return self.names[role]


@pytest.fixture(scope="module")
async def admin(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    client = await login(stack.gateway_url, "admin", stack.admin_password)
    yield client
    await client.aclose()


@pytest.fixture(scope="module")
async def faulty(stack: Stack, admin: httpx.AsyncClient) -> AsyncIterator[Faulty]:
    names = {role: unique(f"f-{role}") for role in ROLES}
    specs = [
        {"name": name, "personality": "vllm", "ttft_ms": 5, "itl_ms": 2, "output_tokens": 40}
        for name in names.values()
    ]
    async with private_models(stack, admin, specs) as private:
        yield Faulty(private, names)


@pytest.fixture
async def sim(faulty: Faulty) -> AsyncIterator[PrivateModels]:
    """The simulator's control API; every fault is cleared after the test."""
    yield faulty.models
    for name in faulty.models.names:
        await faulty.models.reset(name)


@pytest.fixture(scope="module")
async def key_client(stack: Stack, admin: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    username, password = stack.create_user()
    user = await login(stack.gateway_url, username, password)
    key = await new_api_key(admin, await user_id_of(user))
    await user.aclose()
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, timeout=30, headers={"Authorization": f"Bearer {key}"}
    ) as client:
        yield client


async def stream(client: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> Any:
    async with client.stream(
        "POST", "/v1/chat/completions", json={**body, "stream": True}, headers=headers
    ) as response:
        return response, await read_sse(response)


async def test_unknown_model_is_404_openai_shaped(key_client: httpx.AsyncClient) -> None:
    response = await key_client.post("/v1/chat/completions", json=chat_body("nope-model"))

    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "model_not_found"
    assert "nope-model" in error["message"]
    assert error["type"] == "invalid_request_error"


async def test_bad_request_bodies_are_400_openai_shaped(key_client: httpx.AsyncClient) -> None:
    not_json = await key_client.post(
        "/v1/chat/completions", content=b"{oops", headers={"Content-Type": "application/json"}
    )
    no_messages = await key_client.post("/v1/chat/completions", json={"model": "x"})

    assert not_json.status_code == 400 and "JSON" in not_json.json()["error"]["message"]
    assert no_messages.status_code == 400
    assert no_messages.json()["error"]["code"] == "missing_messages"


async def test_missing_or_wrong_credentials_are_401_openai_shaped(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url) as anonymous:
        nobody = await anonymous.post("/v1/chat/completions", json=chat_body("x"))
        wrong = await anonymous.post(
            "/v1/chat/completions",
            json=chat_body("x"),
            headers={"Authorization": "Bearer ctx_not-a-real-key"},
        )

    assert nobody.status_code == 401 and nobody.json()["error"]["type"] == "authentication_error"
    assert wrong.status_code == 401 and "API key" in wrong.json()["error"]["message"]


async def test_unhealthy_model_is_503(
    key_client: httpx.AsyncClient, admin: httpx.AsyncClient, faulty: Faulty, sim: PrivateModels
) -> None:
    name = faulty["down"]
    await sim.control(name, down=True)

    async def gone() -> bool:
        return name not in await running_names(admin)

    await eventually(gone, f"{name} reported unhealthy")
    response = await key_client.post("/v1/chat/completions", json=chat_body(name))

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "model_unavailable"
    assert "Retry-After" in response.headers


async def test_upstream_4xx_is_passed_on_with_its_message(
    key_client: httpx.AsyncClient, faulty: Faulty, sim: PrivateModels
) -> None:
    name = faulty["fail"]
    await sim.control(name, fail_status=400, fail_message="This model's maximum context is 8.")

    whole = await key_client.post("/v1/chat/completions", json=chat_body(name))
    streamed, _ = await stream(key_client, chat_body(name))

    assert whole.status_code == 400
    assert whole.json()["error"]["message"] == "This model's maximum context is 8."
    assert streamed.status_code == 400  # nothing was streamed yet: a plain HTTP error


async def test_unreachable_upstream_is_502(
    stack: Stack, admin: httpx.AsyncClient, key_client: httpx.AsyncClient
) -> None:
    """A server that passes health checks but drops every completion request on the floor."""
    name = unique("broken")

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        if b"/v1/models" in request_line:
            body = b'{"object":"list","data":[{"id":"%s","object":"model"}]}' % name.encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
            )
            await writer.drain()
        writer.close()  # chat completions: the connection closes without an answer

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await register(admin, name, f"http://127.0.0.1:{port}", "openai")

        async def healthy() -> bool:
            return name in await running_names(admin)

        await eventually(healthy, f"{name} healthy")
        response = await key_client.post("/v1/chat/completions", json=chat_body(name))
    finally:
        await admin.delete(f"/admin/upstreams/{name}")
        server.close()

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_unreachable"


async def test_mid_stream_failure_ends_with_an_error_event_and_done(
    key_client: httpx.AsyncClient, faulty: Faulty, sim: PrivateModels
) -> None:
    name = faulty["drop"]
    await sim.control(name, drop_after_tokens=5)

    response, received = await stream(
        key_client, chat_body(name, "echo: a b c d e f g h"), **{"X-Cortex-Metrics": "true"}
    )

    assert response.status_code == 200
    assert received.content == "a b c d e"  # what was produced before the cut
    assert received.names[-3:] == ["error", "cortex.metrics", "[DONE]"]
    error = received.named("error")[0].json()["error"]
    assert error["code"] == "upstream_disconnected"
    assert received.metrics["status"] == "error"
    assert received.metrics["completion_tokens"] == 5  # counted: the cut stream has no usage


async def test_openai_sdk_raises_on_a_mid_stream_failure(
    stack: Stack, key_client: httpx.AsyncClient, faulty: Faulty, sim: PrivateModels
) -> None:
    name = faulty["sdkdrop"]
    await sim.control(name, drop_after_tokens=3)
    key = key_client.headers["Authorization"].removeprefix("Bearer ")
    sdk = openai.AsyncOpenAI(api_key=key, base_url=stack.gateway_url + "/v1", max_retries=0)
    received = []
    try:
        with pytest.raises(openai.APIError) as failed:
            stream = await sdk.chat.completions.create(
                model=name, messages=[{"role": "user", "content": "echo: x y z w"}], stream=True
            )
            async for chunk in stream:
                received.append(chunk.choices[0].delta.content or "")
    finally:
        await sdk.close()

    assert "".join(received) == "x y z"
    assert "broke off" in failed.value.message


async def test_client_disconnect_cancels_the_upstream_request(
    stack: Stack, key_client: httpx.AsyncClient, faulty: Faulty, sim: PrivateModels
) -> None:
    name = faulty["slow"]
    await sim.control(name, output_tokens=LONG, itl_ms=10)

    async with key_client.stream(
        "POST", "/v1/chat/completions", json=chat_body(name, stream=True)
    ) as response:
        completion_id = response.headers["x-cortex-completion-id"]
        received = 0
        async for line in response.aiter_lines():
            received += line.startswith("data:")
            if received == 5:
                break  # leaving the block closes the connection: the client is gone

    async def upstream_cancelled() -> dict[str, Any] | None:
        state = await sim.state(name)
        return state if state["cancelled_streams"] == 1 and state["active_streams"] == 0 else None

    state = await eventually(upstream_cancelled, "the simulator saw the stream cancelled")
    assert state["completed_streams"] == 0
    assert state["streamed_tokens"] < LONG / 2  # generation stopped, far from the end
    event = await usage_event(stack, name, completion_id)
    assert event.status == "abandoned"
    assert 0 < event.completion_tokens < LONG / 2


async def test_whole_answer_request_is_cancelled_when_the_client_leaves(
    key_client: httpx.AsyncClient, faulty: Faulty, sim: PrivateModels
) -> None:
    name = faulty["nonstream"]
    await sim.control(name, output_tokens=LONG, itl_ms=10)

    with contextlib.suppress(httpx.ReadTimeout):
        await key_client.post("/v1/chat/completions", json=chat_body(name), timeout=1.0)

    async def upstream_cancelled() -> bool:
        state = await sim.state(name)
        return state["cancelled_requests"] == 1 and state["active_requests"] == 0

    await eventually(upstream_cancelled, "the simulator saw the request cancelled")
    assert (await sim.state(name))["completed_requests"] == 0


async def test_a_hung_upstream_ends_the_stream_with_an_error(
    stack: Stack, admin: httpx.AsyncClient, faulty: Faulty, sim: PrivateModels
) -> None:
    """A gateway replica with a short read timeout: the model stops sending mid-answer."""
    name = faulty["hang"]
    await sim.control(name, output_tokens=LONG, itl_ms=5)
    gateway = stack.start_extra("gateway", CORTEX_GATEWAY_UPSTREAM_READ_TIMEOUT_SEC="1")
    try:
        username, password = stack.create_user()
        user = await login(gateway.url, username, password)
        key = await new_api_key(admin, await user_id_of(user))
        await user.aclose()
        async with httpx.AsyncClient(
            base_url=gateway.url, timeout=30, headers={"Authorization": f"Bearer {key}"}
        ) as client:

            async def routable() -> bool:
                probe = await client.post(
                    "/v1/chat/completions", json=chat_body(name, max_tokens=1)
                )
                return probe.status_code == 200

            await eventually(routable, f"{name} routable through the new replica")
            async with client.stream(
                "POST", "/v1/chat/completions", json=chat_body(name, stream=True)
            ) as response:
                lines = response.aiter_lines()
                seen = 0
                async for line in lines:
                    seen += line.startswith("data:")
                    if seen == 3:
                        break
                await sim.control(name, hang=True)
                rest = [line async for line in lines]
    finally:
        await sim.control(name, hang=False)
        gateway.stop()

    received = "\n".join(rest)
    assert "event: error" in received
    assert "upstream_timeout" in received
    assert rest[-2:] == ["data: [DONE]", ""] or received.rstrip().endswith("data: [DONE]")


async def test_a_cookie_without_the_csrf_header_is_refused(stack: Stack) -> None:
    username, password = stack.create_user()
    browser = await login(stack.gateway_url, username, password)
    del browser.headers["X-CSRF-Token"]  # a cross-site form post would not have it
    try:
        response = await browser.post("/v1/chat/completions", json=chat_body("sim-vllm-small"))
    finally:
        await browser.aclose()

    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
