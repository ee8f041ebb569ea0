"""The simulator over real HTTP: injected faults, the control API, concurrent streams."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from cortex_simulator.tokens import count_tokens
from tests.support.simulator import (
    LLAMA,
    VLLM,
    Server,
    Stream,
    chat_body,
    client_fixture,  # noqa: F401 - fixture
    control,
    read_stream,
    sim_fixture,  # noqa: F401 - fixture
    state_of,
    stream_chat,
    wait_for_state,
)

pytestmark = pytest.mark.integration


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
