"""The OpenAI-compatible proxy through real processes: the official SDK with an API key, stream
shapes of real engines, usage chunks, request defaults, server-side metrics and usage events."""

from collections.abc import AsyncIterator

import httpx
import openai
import pytest

from tests.conftest import LoginAs
from tests.support.completions import (
    PrivateModels,
    chat_body,
    new_api_key,
    private_models,
    read_sse,
    unique,
    usage_event,
    user_id_of,
    wait_running,
)
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

VLLM, LLAMACPP = "sim-vllm-small", "sim-llamacpp-large"
OUTPUT_TOKENS = {VLLM: 40, LLAMACPP: 50}  # the stack's simulated models (tests/support/stack.py)


@pytest.fixture
async def api_key(login_as: LoginAs) -> str:
    admin = await login_as("admin")
    user = await login_as()
    await wait_running(user, {VLLM, LLAMACPP})
    return await new_api_key(admin, await user_id_of(user))


@pytest.fixture
async def sdk(stack: Stack, api_key: str) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(api_key=api_key, base_url=stack.gateway_url + "/v1", max_retries=0)
    yield client
    await client.close()


@pytest.fixture
async def key_client(stack: Stack, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, timeout=30, headers={"Authorization": f"Bearer {api_key}"}
    ) as client:
        yield client


@pytest.fixture
async def shapes(stack: Stack, login_as: LoginAs) -> AsyncIterator[PrivateModels]:
    """Models with the stream shapes of real engines that the stack's models do not have."""
    reasoning, chunky = unique("reasoning"), unique("chunky")
    models = [
        {"name": reasoning, "personality": "vllm", "reasoning": True, "reasoning_tokens": 6,
         "ttft_ms": 5, "itl_ms": 1, "output_tokens": 20},
        {"name": chunky, "personality": "vllm", "tokens_per_chunk": 3,
         "ttft_ms": 5, "itl_ms": 1, "output_tokens": 30},
    ]  # fmt: skip
    async with private_models(stack, await login_as("admin"), models) as private:
        yield private


@pytest.mark.parametrize("model", [VLLM, LLAMACPP])
async def test_openai_sdk_streams_through_the_gateway_with_an_api_key(
    sdk: openai.AsyncOpenAI, model: str
) -> None:
    stream = await sdk.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "echo: one two three four five"}],
        stream=True,
    )
    chunks = [chunk async for chunk in stream]

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four five"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert all(c.usage is None for c in chunks)  # not asked for: the gateway's own ask is hidden
    assert all(c.model == model for c in chunks)


async def test_openai_sdk_gets_the_usage_chunk_when_it_asks(sdk: openai.AsyncOpenAI) -> None:
    stream = await sdk.chat.completions.create(
        model=VLLM,
        messages=[{"role": "user", "content": "Tell me about caching"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]

    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.completion_tokens == OUTPUT_TOKENS[VLLM]
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens


@pytest.mark.parametrize("model", [VLLM, LLAMACPP])
async def test_openai_sdk_whole_answer(sdk: openai.AsyncOpenAI, model: str) -> None:
    answer = await sdk.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "echo: a short answer"}]
    )

    assert answer.choices[0].message.content == "a short answer"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and answer.usage.completion_tokens == 3


async def test_openai_sdk_sees_openai_shaped_errors(sdk: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        await sdk.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "hi"}]
        )

    assert missing.value.status_code == 404
    assert "no-such-model" in missing.value.message
    assert missing.value.code == "model_not_found"


async def test_stream_is_sent_unbuffered_with_sse_headers(key_client: httpx.AsyncClient) -> None:
    async with key_client.stream(
        "POST", "/v1/chat/completions", json=chat_body(VLLM, stream=True)
    ) as response:
        stream = await read_sse(response)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["x-cortex-completion-id"]
    assert stream.names[-1] == "[DONE]"
    assert "cortex.metrics" not in stream.names  # only for clients that ask


async def test_llamacpp_stream_keeps_its_timings_and_role_chunk(
    key_client: httpx.AsyncClient,
) -> None:
    body = chat_body(LLAMACPP, stream=True, stream_options={"include_usage": True})
    async with key_client.stream("POST", "/v1/chat/completions", json=body) as response:
        stream = await read_sse(response)

    first, last = stream.chunks[0], stream.chunks[-1]
    assert first["choices"][0]["delta"]["role"] == "assistant"
    assert first["choices"][0]["delta"]["content"] is None  # llama.cpp's role-only shape
    assert last["choices"] == []
    assert last["usage"]["completion_tokens"] == OUTPUT_TOKENS[LLAMACPP]
    assert last["timings"]["predicted_n"] == OUTPUT_TOKENS[LLAMACPP]  # passed on untouched


async def test_every_api_completion_publishes_a_usage_event(
    stack: Stack, key_client: httpx.AsyncClient, api_key: str
) -> None:
    async with key_client.stream(
        "POST", "/v1/chat/completions", json=chat_body(VLLM, stream=True)
    ) as response:
        await read_sse(response)
    completion_id = response.headers["x-cortex-completion-id"]

    event = await usage_event(stack, VLLM, completion_id)

    assert event.source == "api"
    assert event.status == "complete"
    assert event.api_key_id is not None
    assert event.engine_type == "vllm"
    assert event.stream is True
    assert event.completion_tokens == OUTPUT_TOKENS[VLLM]
    assert event.prompt_tokens > 0
    assert event.total_tokens == event.prompt_tokens + event.completion_tokens
    assert event.finish_reason == "length" or event.finish_reason == "stop"
    assert event.ttft_ms is not None and 0 < event.ttft_ms <= event.latency_ms


async def test_failed_completions_publish_usage_events_too(
    stack: Stack, key_client: httpx.AsyncClient
) -> None:
    response = await key_client.post("/v1/chat/completions", json=chat_body("no-such-model"))
    assert response.status_code == 404

    event = await usage_event(stack, "no-such-model", response.headers["x-cortex-completion-id"])

    assert event.status == "error"
    assert event.http_status == 404
    assert event.completion_tokens == 0


async def test_server_metrics_come_as_one_event_before_done(
    key_client: httpx.AsyncClient,
) -> None:
    async with key_client.stream(
        "POST",
        "/v1/chat/completions",
        json=chat_body(VLLM, stream=True),
        headers={"X-Cortex-Metrics": "true"},
    ) as response:
        stream = await read_sse(response)

    assert stream.names[-2:] == ["cortex.metrics", "[DONE]"]
    metrics = stream.metrics
    assert metrics["status"] == "complete"
    assert metrics["model"] == VLLM
    assert metrics["completion_tokens"] == OUTPUT_TOKENS[VLLM]
    assert metrics["total_tokens"] == metrics["prompt_tokens"] + metrics["completion_tokens"]
    assert 0 < metrics["ttft_ms"] < metrics["latency_ms"]
    # Decode speed leaves the wait for the first token out, so it beats the end-to-end rate.
    assert metrics["decode_tokens_per_s"] > metrics["e2e_tokens_per_s"] > 0
    assert 0 < metrics["itl_p50_ms"] <= metrics["itl_p95_ms"]
    assert metrics["finish_reason"] in ("stop", "length")


async def test_reasoning_deltas_are_measured_and_passed_on(
    key_client: httpx.AsyncClient, shapes: PrivateModels
) -> None:
    model = shapes.names[0]
    async with key_client.stream(
        "POST",
        "/v1/chat/completions",
        json=chat_body(model, stream=True),
        headers={"X-Cortex-Metrics": "true"},
    ) as response:
        stream = await read_sse(response)

    reasoning = "".join(
        c["choices"][0]["delta"].get("reasoning_content") or "" for c in stream.chunks
    )
    assert reasoning  # forwarded as the engine sent it
    assert stream.metrics["completion_tokens"] == 20  # reasoning tokens count as generated
    assert stream.metrics["ttft_ms"] is not None


async def test_several_tokens_per_chunk_are_counted_as_tokens(
    key_client: httpx.AsyncClient, shapes: PrivateModels
) -> None:
    model = shapes.names[1]
    async with key_client.stream(
        "POST",
        "/v1/chat/completions",
        json=chat_body(model, stream=True),
        headers={"X-Cortex-Metrics": "true"},
    ) as response:
        stream = await read_sse(response)

    content_chunks = [
        c for c in stream.chunks if c["choices"] and c["choices"][0]["delta"].get("content")
    ]
    assert len(content_chunks) == 10
    assert stream.metrics["completion_tokens"] == 30  # tokens, not chunks


async def test_request_defaults_fill_only_what_the_client_left_out(
    stack: Stack, login_as: LoginAs, key_client: httpx.AsyncClient
) -> None:
    name = unique("defaults")
    models = [{"name": name, "personality": "vllm", "ttft_ms": 1, "itl_ms": 0, "output_tokens": 50}]
    admin = await login_as("admin")
    async with private_models(stack, admin, models, request_defaults={"max_tokens": 7}):
        defaulted = await key_client.post("/v1/chat/completions", json=chat_body(name))
        chosen = await key_client.post("/v1/chat/completions", json=chat_body(name, max_tokens=12))

    assert defaulted.status_code == 200, defaulted.text
    assert defaulted.json()["usage"]["completion_tokens"] == 7
    assert chosen.json()["usage"]["completion_tokens"] == 12
