"""The simulator over real HTTP: uvicorn in a background thread, checked with httpx."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn

from cortex_simulator import Settings, create_app
from cortex_simulator.models import ModelConfig
from cortex_simulator.tokens import count_tokens

pytestmark = pytest.mark.integration

VLLM = "t-vllm"
LLAMA = "t-llama"
OPENAI = "t-openai"
REASON = "t-reason"
CHUNKY = "t-chunky"

TEST_MODELS = [
    ModelConfig(
        name=VLLM, personality="vllm", max_context=512, ttft_ms=5, itl_ms=1, output_tokens=40
    ),
    ModelConfig(
        name=LLAMA,
        personality="llamacpp",
        max_context=2048,
        slots=2,
        ttft_ms=5,
        itl_ms=1,
        output_tokens=30,
    ),
    ModelConfig(name=OPENAI, personality="openai", ttft_ms=1, itl_ms=0, output_tokens=12),
    ModelConfig(
        name=REASON,
        personality="vllm",
        reasoning=True,
        reasoning_tokens=6,
        ttft_ms=1,
        itl_ms=0,
        output_tokens=20,
    ),
    ModelConfig(
        name=CHUNKY, personality="vllm", tokens_per_chunk=3, ttft_ms=1, itl_ms=0, output_tokens=10
    ),
]


@dataclass
class Server:
    base: str
    server: uvicorn.Server
    thread: threading.Thread

    def url(self, model: str, path: str) -> str:
        return f"{self.base}/m/{model}{path}"


@pytest.fixture(scope="module")
def sim() -> Iterator[Server]:
    app = create_app(Settings(models=TEST_MODELS))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, timeout_graceful_shutdown=2, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "simulator did not start"
        time.sleep(0.01)
    yield Server(f"http://127.0.0.1:{port}", server, thread)
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
async def client(sim: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base, timeout=10) as c:
        yield c
    async with httpx.AsyncClient(base_url=sim.base, timeout=10) as c:
        for model in (VLLM, LLAMA, OPENAI, REASON, CHUNKY):
            (await c.post(f"/_control/{model}/reset")).raise_for_status()


def chat_body(content: str = "Tell me about caching", **kwargs: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}], **kwargs}


@dataclass
class Stream:
    events: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False

    @property
    def content(self) -> str:
        return "".join(
            c["delta"].get("content") or "" for e in self.events for c in e["choices"] if c
        )

    @property
    def content_chunks(self) -> list[str]:
        out: list[str] = []
        for e in self.events:
            for c in e["choices"]:
                if c["delta"].get("content"):
                    out.append(c["delta"]["content"])
        return out

    @property
    def finish_reasons(self) -> list[str]:
        return [c["finish_reason"] for e in self.events for c in e["choices"] if c["finish_reason"]]


async def read_stream(response: httpx.Response, into: Stream | None = None) -> Stream:
    stream = into or Stream()
    async for line in response.aiter_lines():
        if not line.startswith("data: "):
            continue
        data = line[len("data: ") :]
        if data == "[DONE]":
            stream.done = True
            continue
        assert not stream.done, "data after [DONE]"
        stream.events.append(json.loads(data))
    return stream


async def stream_chat(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> Stream:
    async with client.stream("POST", url, json={**body, "stream": True}) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        return await read_stream(response)


async def control(client: httpx.AsyncClient, model: str, **update: Any) -> dict[str, Any]:
    response = await client.post(f"/_control/{model}", json=update)
    response.raise_for_status()
    state: dict[str, Any] = response.json()
    return state


async def state_of(client: httpx.AsyncClient, model: str) -> dict[str, Any]:
    state: dict[str, Any] = (await client.get(f"/_control/{model}")).json()
    return state


async def wait_for_state(
    client: httpx.AsyncClient, model: str, within: float = 3.0, **expected: Any
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        state = await state_of(client, model)
        if all(state[k] == v for k, v in expected.items()):
            return state
        assert time.monotonic() < deadline, f"state never matched {expected}: {state}"
        await asyncio.sleep(0.02)


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


# --- faults ----------------------------------------------------------------------------------


async def test_fail_status(client: httpx.AsyncClient, sim: Server) -> None:
    await control(client, VLLM, fail_status=429, fail_message="slow down")
    response = await client.post(sim.url(VLLM, "/v1/chat/completions"), json=chat_body())
    assert response.status_code == 429
    assert response.json()["error"]["message"] == "slow down"
    assert (await client.get(sim.url(VLLM, "/health"))).status_code == 200
    state = await control(client, VLLM, fail_status=None)
    assert state["fail_status"] is None and state["failed_requests"] == 1
    ok = await client.post(sim.url(VLLM, "/v1/chat/completions"), json=chat_body())
    assert ok.status_code == 200


async def test_down(client: httpx.AsyncClient, sim: Server) -> None:
    await control(client, VLLM, down=True)
    assert (await client.get(sim.url(VLLM, "/health"))).status_code == 503
    chat = await client.post(sim.url(VLLM, "/v1/chat/completions"), json=chat_body())
    assert chat.status_code == 503 and "error" in chat.json()
    await client.post(f"/_control/{VLLM}/reset")
    assert (await client.get(sim.url(VLLM, "/health"))).status_code == 200


async def test_drop_after_tokens(client: httpx.AsyncClient, sim: Server) -> None:
    await control(client, VLLM, drop_after_tokens=5)
    stream = Stream()
    with pytest.raises(httpx.RemoteProtocolError):
        async with client.stream(
            "POST", sim.url(VLLM, "/v1/chat/completions"), json=chat_body(stream=True)
        ) as response:
            assert response.status_code == 200
            await read_stream(response, stream)
    assert not stream.done
    assert stream.finish_reasons == []
    assert len(stream.content_chunks) == 5
    await wait_for_state(client, VLLM, dropped_streams=1, active_streams=0)

    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(sim.url(VLLM, "/v1/chat/completions"), json=chat_body())
    await wait_for_state(client, VLLM, dropped_requests=1)


async def test_hang_until_client_gives_up(client: httpx.AsyncClient, sim: Server) -> None:
    await control(client, LLAMA, hang=True)
    for method, path in (("GET", "/health"), ("GET", "/props"), ("POST", "/v1/chat/completions")):
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            await client.request(
                method, sim.url(LLAMA, path), json=chat_body(), timeout=httpx.Timeout(0.3)
            )
        assert time.monotonic() - started >= 0.29
    # A waiting request is released when the hang is lifted.
    pending = asyncio.ensure_future(client.get(sim.url(LLAMA, "/health")))
    await asyncio.sleep(0.2)
    assert not pending.done()
    await control(client, LLAMA, hang=False)
    assert (await asyncio.wait_for(pending, 3)).status_code == 200


async def test_client_disconnect_cancels_stream(client: httpx.AsyncClient, sim: Server) -> None:
    await control(client, VLLM, itl_ms=20, output_tokens=400)
    async with client.stream(
        "POST", sim.url(VLLM, "/v1/chat/completions"), json=chat_body(stream=True)
    ) as response:
        lines = response.aiter_lines()
        received = 0
        async for line in lines:
            if line.startswith("data: "):
                received += 1
            if received >= 4:
                break
        state = await state_of(client, VLLM)
        assert state["active_streams"] == 1
    # Leaving the block closes the connection before the stream is complete.
    state = await wait_for_state(
        client, VLLM, active_streams=0, cancelled_streams=1, completed_streams=0
    )
    produced = state["streamed_tokens"]
    assert produced < 100
    await asyncio.sleep(0.3)
    assert (await state_of(client, VLLM))["streamed_tokens"] == produced


async def test_completed_and_cancelled_whole_answers(
    client: httpx.AsyncClient, sim: Server
) -> None:
    await stream_chat(client, sim.url(VLLM, "/v1/chat/completions"), chat_body())
    await wait_for_state(client, VLLM, completed_streams=1, active_streams=0)
    await control(client, VLLM, ttft_ms=2000)
    with pytest.raises(httpx.ReadTimeout):
        await client.post(
            sim.url(VLLM, "/v1/chat/completions"), json=chat_body(), timeout=httpx.Timeout(0.2)
        )
    await wait_for_state(client, VLLM, cancelled_requests=1, active_requests=0)


async def test_control_api(client: httpx.AsyncClient) -> None:
    state = await control(client, VLLM, ttft_ms=1.5, hang=False, tokens_per_chunk=2)
    assert state["ttft_ms"] == 1.5 and state["tokens_per_chunk"] == 2
    assert state["config"]["ttft_ms"] == 5
    assert (await client.post(f"/_control/{VLLM}", json={"bogus": 1})).status_code == 422
    assert (await client.get("/_control/nope")).status_code == 404
    everything = (await client.get("/_control")).json()
    assert len(everything["models"]) == 5
    reset = (await client.post(f"/_control/{VLLM}/reset")).json()
    assert reset["ttft_ms"] == 5 and reset["tokens_per_chunk"] == 1


async def test_concurrent_streams(client: httpx.AsyncClient, sim: Server) -> None:
    url = sim.url(VLLM, "/v1/chat/completions")
    started = time.monotonic()
    streams = await asyncio.gather(*(stream_chat(client, url, chat_body()) for _ in range(50)))
    assert all(count_tokens(s.content) == 40 and s.done for s in streams)
    assert time.monotonic() - started < 5
    await wait_for_state(client, VLLM, completed_streams=50, active_streams=0)
