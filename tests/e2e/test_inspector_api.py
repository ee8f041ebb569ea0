"""The inspector through real processes: what a playground answer keeps (the exact request with
the engine's key masked, the response head, the chunks, logprobs, tool calls, the parameters),
a tool call answered by hand, presets shared in an org, the checks kept with a chat."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import LoginAs
from tests.support.chat import WEATHER_TOOL
from tests.support.clients import login
from tests.support.completions import (
    PrivateModels,
    eventually,
    new_session,
    private_models,
    read_sse,
    recorded_answer,
    session_messages,
    unique,
)
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

ENGINE_KEY = "sk-engine-secret-4711"
TOOL = WEATHER_TOOL


@pytest.fixture(scope="module")
async def model(stack: Stack) -> AsyncIterator[tuple[PrivateModels, str]]:
    admin = await login(stack.gateway_url, "admin", stack.admin_password)
    name = unique("insp")
    spec = {"name": name, "personality": "openai", "ttft_ms": 5, "itl_ms": 1, "output_tokens": 30}
    try:
        async with private_models(stack, admin, [spec], api_key=ENGINE_KEY) as private:
            yield private, name
    finally:
        await admin.aclose()


async def turn(client: httpx.AsyncClient, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
    async with client.stream(
        "POST",
        "/v1/chat/completions",
        json={"stream": True, **body},
        headers={"X-Chat-Session-Id": session_id, "X-Cortex-Metrics": "true"},
    ) as response:
        assert response.status_code == 200, await response.aread()
        stream = await read_sse(response)
    return stream.metrics


async def test_an_answer_keeps_its_exchange_logprobs_and_parameters(
    login_as: LoginAs, model: tuple[PrivateModels, str]
) -> None:
    _, name = model
    user = await login_as()
    session_id = await new_session(user, name)
    body = {
        "model": name,
        "messages": [{"role": "user", "content": "echo: one two three"}],
        "logprobs": True,
        "top_logprobs": 3,
        "seed": 42,
        "temperature": 0.3,
    }
    streamed = await turn(user, session_id, body)
    answer = await recorded_answer(user, session_id)

    inspect = answer["metrics_json"]["inspect"]
    assert inspect == streamed["inspect"]  # the UI's copy and the stored one agree
    request = inspect["request"]
    assert request["url"].endswith("/v1/chat/completions")
    assert request["headers"]["Authorization"] == "Bearer ***"
    assert ENGINE_KEY not in str(answer)
    assert request["body"]["messages"] == body["messages"]
    assert request["body"]["stream_options"] == {"include_usage": True}
    assert inspect["response"]["status"] == 200
    assert inspect["response"]["headers"]["content-type"].startswith("text/event-stream")
    assert inspect["first_chunk"].startswith("data: {")
    assert '"usage"' in inspect["last_chunk"]
    assert inspect["usage"]["completion_tokens"] == 3
    assert inspect["params"]["seed"] == 42 and inspect["params"]["temperature"] == 0.3
    assert inspect["system_fingerprint"] == "fp_cortex_sim"
    assert inspect["model_id"] == name
    tokens = inspect["logprobs"]["content"]
    assert "".join(t["token"] for t in tokens) == answer["content"] == "one two three"
    assert all(len(t["top_logprobs"]) == 3 for t in tokens)
    assert inspect["logprobs"] | {"content": None} == {
        "requested": True, "returned": True, "content": None,
    }  # fmt: skip


async def test_a_tool_call_answered_by_hand_goes_on_with_the_conversation(
    login_as: LoginAs, model: tuple[PrivateModels, str]
) -> None:
    _, name = model
    user = await login_as()
    session_id = await new_session(user, name)
    asked = [{"role": "user", "content": "What is the weather in Oslo?"}]
    await turn(user, session_id, {"model": name, "messages": asked, "tools": [TOOL]})
    call_message = await recorded_answer(user, session_id)
    calls = call_message["metrics_json"]["inspect"]["tool_calls"]
    assert len(calls) == 1 and calls[0]["function"]["name"] == "get_weather"
    assert calls[0]["id"].startswith("call_")
    assert calls[0]["function"]["arguments"] == '{"city": "city"}'
    assert call_message["metrics_json"]["finish_reason"] == "tool_calls"

    history = [
        *asked,
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "rain, 9 C"},
    ]
    await turn(user, session_id, {"model": name, "messages": history, "tools": [TOOL]})

    async def answered() -> list[dict[str, Any]] | None:
        stored = await session_messages(user, session_id)
        return stored if len(stored) == 4 else None

    stored = await eventually(answered, "the answer after the tool's result")
    assert [m["role"] for m in stored] == ["user", "assistant", "tool", "assistant"]
    assert stored[2]["content"] == "rain, 9 C"
    assert stored[2]["metrics_json"] == {"tool_call_id": calls[0]["id"]}
    assert "rain, 9 C" in stored[3]["content"]


async def test_presets_are_the_owners_and_shared_ones_are_seen_in_the_org(
    login_as: LoginAs,
) -> None:
    owner, other = await login_as(), await login_as()
    body = {"system_prompt": "Answer in JSON.", "temperature": 0.2, "seed": 7, "top_logprobs": 4}
    private = await owner.post("/v1/presets", json={"name": "mine", "preset": body})
    shared = await owner.post("/v1/presets", json={"name": "team", "shared": True, "preset": body})
    assert private.status_code == shared.status_code == 201, private.text

    mine = [p for p in (await owner.get("/v1/presets")).json()["presets"] if p["mine"]]
    assert {p["name"] for p in mine} == {"mine", "team"}
    seen = (await other.get("/v1/presets")).json()["presets"]
    team = [p for p in seen if p["id"] == shared.json()["id"]]
    assert [(p["name"], p["mine"], p["preset"]["seed"]) for p in team] == [("team", False, 7)]
    assert private.json()["id"] not in {p["id"] for p in seen}

    # Only the owner changes or deletes a preset.
    preset_id = shared.json()["id"]
    changed = {"name": "team", "shared": True, "preset": body}
    assert (await other.put(f"/v1/presets/{preset_id}", json=changed)).status_code == 404
    assert (await other.delete(f"/v1/presets/{preset_id}")).status_code == 404
    assert (await owner.delete(f"/v1/presets/{preset_id}")).status_code == 204
    assert preset_id not in {p["id"] for p in (await other.get("/v1/presets")).json()["presets"]}
    bad = await owner.post("/v1/presets", json={"name": "x", "preset": {"top_logprobs": 99}})
    assert bad.status_code == 422


async def test_the_checks_are_kept_with_the_chat_and_only_its_owner_reads_them(
    login_as: LoginAs, model: tuple[PrivateModels, str]
) -> None:
    _, name = model
    user, stranger = await login_as(), await login_as()
    session_id = await new_session(user, name)
    schema = {"type": "object", "required": ["a"]}
    batch = {
        "model": name, "prompt": "p", "runs": 20, "valid": 15, "latency_ms_p50": 12.5,
        "failures": [{"run": 3, "path": "/", "message": "must have required property 'a'"}],
        "finished_at": "2026-12-06T05:00:00Z",
    }  # fmt: skip
    saved = await user.put(
        f"/v1/chat/sessions/{session_id}/inspector",
        json={"output_schema": schema, "tools": [TOOL], "batch": batch},
    )
    assert saved.status_code == 200, saved.text
    read = (await user.get(f"/v1/chat/sessions/{session_id}/inspector")).json()
    assert read["output_schema"] == schema and read["batch"]["valid"] == 15
    assert (await stranger.get(f"/v1/chat/sessions/{session_id}/inspector")).status_code == 404
