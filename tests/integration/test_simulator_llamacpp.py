"""The simulator over real HTTP: the llama.cpp and generic OpenAI personalities."""

from __future__ import annotations

import httpx
import pytest

from cortex_simulator.tokens import count_tokens
from tests.support.simulator import (
    LLAMA,
    OPENAI,
    Server,
    chat_body,
    client_fixture,  # noqa: F401 - fixture
    control,
    sim_fixture,  # noqa: F401 - fixture
    stream_chat,
)

pytestmark = pytest.mark.integration


# --- llama.cpp -------------------------------------------------------------------------------


async def test_llamacpp_endpoints(client: httpx.AsyncClient, sim: Server) -> None:
    health = await client.get(sim.url(LLAMA, "/health"))
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    props = (await client.get(sim.url(LLAMA, "/props"))).json()
    assert props["default_generation_settings"]["n_ctx"] == 1024
    assert props["total_slots"] == 2 and props["n_ctx"] == 2048
    assert props["model_path"].endswith(".gguf")
    models = (await client.get(sim.url(LLAMA, "/v1/models"))).json()
    assert models["object"] == "list"
    assert models["data"][0]["id"] == LLAMA
    assert models["data"][0]["meta"]["n_ctx_train"] == 2048
    tok = (await client.post(sim.url(LLAMA, "/tokenize"), json={"content": "Hello, world"})).json()
    assert len(tok["tokens"]) == 3 and all(isinstance(t, int) for t in tok["tokens"])
    slots = (await client.get(sim.url(LLAMA, "/slots"))).json()
    assert [s["n_ctx"] for s in slots] == [1024, 1024]


async def test_llamacpp_stream_timings(client: httpx.AsyncClient, sim: Server) -> None:
    url = sim.url(LLAMA, "/v1/chat/completions")
    plain = await stream_chat(client, url, chat_body())
    assert plain.events[0]["choices"][0]["delta"]["role"] == "assistant"
    last = plain.events[-1]
    assert last["choices"][0]["finish_reason"] == "stop"
    timings = last["timings"]
    for key in ("prompt_n", "prompt_ms", "predicted_n", "predicted_ms", "predicted_per_second"):
        assert key in timings
    assert timings["predicted_n"] == 30
    assert all("usage" not in e for e in plain.events)
    assert all("timings" not in e for e in plain.events[:-1])

    with_usage = await stream_chat(
        client, url, chat_body(max_tokens=9, stream_options={"include_usage": True})
    )
    last = with_usage.events[-1]
    assert last["choices"] == [] and last["usage"]["completion_tokens"] == 9
    assert last["timings"]["predicted_n"] == 9
    assert with_usage.finish_reasons == ["length"]
    assert len(with_usage.content_chunks) == 9

    whole = (await client.post(url, json=chat_body())).json()
    assert whole["timings"]["predicted_n"] == whole["usage"]["completion_tokens"] == 30


async def test_llamacpp_loading(client: httpx.AsyncClient, sim: Server) -> None:
    await control(client, LLAMA, loading=True)
    health = await client.get(sim.url(LLAMA, "/health"))
    assert health.status_code == 503
    assert health.json() == {
        "error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}
    }
    chat = await client.post(sim.url(LLAMA, "/v1/chat/completions"), json=chat_body())
    assert chat.status_code == 503
    await control(client, LLAMA, loading=False)
    assert (await client.get(sim.url(LLAMA, "/health"))).status_code == 200


# --- OpenAI generic --------------------------------------------------------------------------


async def test_openai_personality(client: httpx.AsyncClient, sim: Server) -> None:
    assert (await client.get(sim.url(OPENAI, "/health"))).status_code == 404
    assert (await client.post(sim.url(OPENAI, "/tokenize"), json={})).status_code == 404
    models = (await client.get(sim.url(OPENAI, "/v1/models"))).json()
    assert models["data"][0]["id"] == OPENAI
    stream = await stream_chat(client, sim.url(OPENAI, "/v1/chat/completions"), chat_body())
    assert stream.events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert count_tokens(stream.content) == 12
