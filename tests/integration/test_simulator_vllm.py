"""The simulator over real HTTP: its root routes and the vLLM personality."""

from __future__ import annotations

import httpx
import pytest

from cortex_simulator.tokens import count_tokens
from tests.support.simulator import (
    CHUNKY,
    LLAMA,
    OPENAI,
    REASON,
    VLLM,
    Server,
    chat_body,
    client_fixture,  # noqa: F401 - fixture
    sim_fixture,  # noqa: F401 - fixture
    stream_chat,
)

pytestmark = pytest.mark.integration


# --- root ------------------------------------------------------------------------------------


async def test_root_endpoints(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    listing = (await client.get("/v1/models")).json()
    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == [VLLM, LLAMA, OPENAI, REASON, CHUNKY]
    routed = await client.post("/v1/chat/completions", json=chat_body(model=LLAMA))
    assert routed.status_code == 200
    assert routed.json()["model"] == LLAMA
    unknown = await client.post("/v1/chat/completions", json=chat_body(model="nope"))
    assert unknown.status_code == 404
    assert "nope" in unknown.json()["error"]["message"]
    bad = await client.post("/v1/chat/completions", content=b"{not json")
    assert bad.status_code == 400 and "error" in bad.json()


# --- vLLM ------------------------------------------------------------------------------------


async def test_vllm_endpoints(client: httpx.AsyncClient, sim: Server) -> None:
    health = await client.get(sim.url(VLLM, "/health"))
    assert health.status_code == 200 and health.content == b""
    models = (await client.get(sim.url(VLLM, "/v1/models"))).json()
    card = models["data"][0]
    assert models["object"] == "list"
    assert (card["id"], card["object"], card["owned_by"], card["root"]) == (
        VLLM,
        "model",
        "vllm",
        VLLM,
    )
    assert card["max_model_len"] == 512 and isinstance(card["created"], int)

    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}]
    tok = (
        await client.post(sim.url(VLLM, "/tokenize"), json={"model": VLLM, "messages": messages})
    ).json()
    assert tok["max_model_len"] == 512 and tok["count"] == len(tok["tokens"])
    chat = (
        await client.post(sim.url(VLLM, "/v1/chat/completions"), json={"messages": messages})
    ).json()
    assert chat["usage"]["prompt_tokens"] == tok["count"]
    prompt_tok = (
        await client.post(sim.url(VLLM, "/tokenize"), json={"model": VLLM, "prompt": "a b c"})
    ).json()
    assert prompt_tok["count"] == 4  # BOS + 3


async def test_vllm_non_streaming(client: httpx.AsyncClient, sim: Server) -> None:
    url = sim.url(VLLM, "/v1/chat/completions")
    first = (await client.post(url, json=chat_body(model=VLLM))).json()
    second = (await client.post(url, json=chat_body(model=VLLM))).json()
    assert first["object"] == "chat.completion"
    choice = first["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    text = choice["message"]["content"]
    assert text == second["choices"][0]["message"]["content"]
    assert first["usage"]["completion_tokens"] == 40 == count_tokens(text)
    assert (
        first["usage"]["total_tokens"]
        == first["usage"]["prompt_tokens"] + first["usage"]["completion_tokens"]
    )


async def test_vllm_stream_shape_without_usage(client: httpx.AsyncClient, sim: Server) -> None:
    stream = await stream_chat(client, sim.url(VLLM, "/v1/chat/completions"), chat_body())
    assert stream.done
    first = stream.events[0]
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert stream.events[-1]["choices"][0]["finish_reason"] == "stop"
    assert stream.finish_reasons == ["stop"]
    assert all("usage" not in e for e in stream.events)
    assert all(e["choices"] for e in stream.events)
    assert len(stream.content_chunks) == 40 == count_tokens(stream.content)


async def test_vllm_stream_usage_and_max_tokens(client: httpx.AsyncClient, sim: Server) -> None:
    body = chat_body(max_tokens=7, stream_options={"include_usage": True})
    stream = await stream_chat(client, sim.url(VLLM, "/v1/chat/completions"), body)
    last = stream.events[-1]
    assert last["choices"] == []
    assert last["usage"]["completion_tokens"] == 7
    assert last["usage"]["total_tokens"] == (
        last["usage"]["prompt_tokens"] + last["usage"]["completion_tokens"]
    )
    assert stream.finish_reasons == ["length"]
    assert len(stream.content_chunks) == 7 == count_tokens(stream.content)
    whole = (
        await client.post(sim.url(VLLM, "/v1/chat/completions"), json=chat_body(max_tokens=7))
    ).json()
    assert whole["choices"][0]["message"]["content"] == stream.content


async def test_context_errors(client: httpx.AsyncClient, sim: Server) -> None:
    url = sim.url(VLLM, "/v1/chat/completions")
    too_long = await client.post(url, json=chat_body("word " * 600))
    assert too_long.status_code == 400
    error = too_long.json()["error"]
    assert error["message"].startswith("This model's maximum context length is 512 tokens")
    assert (error["type"], error["code"]) == ("BadRequestError", 400)
    too_many = await client.post(url, json=chat_body(max_tokens=5000))
    assert too_many.status_code == 400
    wrong_model = await client.post(url, json=chat_body(model="other"))
    assert wrong_model.status_code == 404


async def test_reasoning_before_content(client: httpx.AsyncClient, sim: Server) -> None:
    stream = await stream_chat(client, sim.url(REASON, "/v1/chat/completions"), chat_body())
    kinds = [
        "reasoning" if "reasoning_content" in e["choices"][0]["delta"] else "content"
        for e in stream.events[1:-1]
    ]
    assert kinds == ["reasoning"] * 6 + ["content"] * 14
    whole = (await client.post(sim.url(REASON, "/v1/chat/completions"), json=chat_body())).json()
    assert whole["choices"][0]["message"]["reasoning_content"]
    assert whole["usage"]["completion_tokens"] == 20


async def test_tokens_per_chunk(client: httpx.AsyncClient, sim: Server) -> None:
    stream = await stream_chat(client, sim.url(CHUNKY, "/v1/chat/completions"), chat_body())
    assert [count_tokens(c) for c in stream.content_chunks] == [3, 3, 3, 1]
    assert count_tokens(stream.content) == 10


async def test_echo_is_verbatim(client: httpx.AsyncClient, sim: Server) -> None:
    payload = "<img src=x onerror=\"alert('xss')\"> **bold** </script>"
    stream = await stream_chat(
        client, sim.url(VLLM, "/v1/chat/completions"), chat_body(f"echo: {payload}")
    )
    assert stream.content == payload
