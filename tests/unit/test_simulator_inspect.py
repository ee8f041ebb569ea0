"""The simulator's inspector features: logprobs, JSON output for a schema, streamed tool calls,
and the broken mode that makes a set share of structured answers invalid."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import pytest

from cortex_simulator.app import create_app
from cortex_simulator.models import ModelConfig
from cortex_simulator.settings import Settings
from cortex_simulator.structured import example_for, is_broken

pytestmark = pytest.mark.unit

MODEL = "sim-vllm-small"
SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "temperature": {"type": "number", "minimum": -50},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
    },
    "required": ["city", "temperature"],
    "additionalProperties": False,
}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}


def client() -> httpx.AsyncClient:
    app = create_app(Settings())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim")


async def fast(c: httpx.AsyncClient, **update: Any) -> None:
    answer = await c.post(f"/_control/{MODEL}", json={"ttft_ms": 0, "itl_ms": 0, **update})
    answer.raise_for_status()


def chunks(text: str) -> list[dict[str, Any]]:
    lines = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
    return [json.loads(line) for line in lines if line != "[DONE]"]


def body(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": "weather?"}], **extra}


async def test_streamed_tokens_carry_logprobs_with_alternatives() -> None:
    async with client() as c:
        await fast(c)
        answer = await c.post(
            "/v1/chat/completions", json=body(stream=True, logprobs=True, top_logprobs=3)
        )
        parts = [
            ch
            for ch in chunks(answer.text)
            if ch["choices"] and ch["choices"][0]["delta"].get("content")
        ]
        assert len(parts) == 120
        for part in parts:
            entries = part["choices"][0]["logprobs"]["content"]
            assert "".join(e["token"] for e in entries) == part["choices"][0]["delta"]["content"]
            for entry in entries:
                assert entry["logprob"] <= 0
                assert len(entry["top_logprobs"]) == 3
                assert entry["top_logprobs"][0]["token"] == entry["token"]
        again = await c.post("/v1/chat/completions", json=body(logprobs=True, top_logprobs=3))
        whole = again.json()["choices"][0]["logprobs"]["content"]
        streamed = [e for p in parts for e in p["choices"][0]["logprobs"]["content"]]
        assert whole == streamed  # the same request gets the same figures


async def test_top_logprobs_without_logprobs_is_refused() -> None:
    async with client() as c:
        answer = await c.post("/v1/chat/completions", json=body(top_logprobs=2))
        assert answer.status_code == 400
        assert "logprobs" in answer.json()["error"]["message"]


async def test_json_schema_answers_are_valid_and_the_broken_mode_breaks_the_set_share() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "weather", "schema": SCHEMA}}
    async with client() as c:
        await fast(c, break_rate=0.25, break_seed=3)
        valid = 0
        for _ in range(20):
            answer = await c.post("/v1/chat/completions", json=body(response_format=fmt))
            text = answer.json()["choices"][0]["message"]["content"]
            try:
                jsonschema.validate(json.loads(text), SCHEMA)
                valid += 1
            except (ValueError, jsonschema.ValidationError):
                pass
        assert valid == 15


async def test_tool_calls_stream_as_openai_deltas_and_a_tool_result_gets_a_text_answer() -> None:
    async with client() as c:
        await fast(c, tokens_per_chunk=2)
        answer = await c.post("/v1/chat/completions", json=body(stream=True, tools=[WEATHER_TOOL]))
        deltas = [ch["choices"][0] for ch in chunks(answer.text) if ch["choices"]]
        calls = [d["delta"]["tool_calls"][0] for d in deltas if d["delta"].get("tool_calls")]
        assert calls[0]["function"] == {"name": "get_weather", "arguments": ""}
        assert calls[0]["id"].startswith("call_")
        assert len(calls) > 2 and all(c["index"] == 0 for c in calls)
        arguments = json.loads("".join(c["function"]["arguments"] for c in calls))
        jsonschema.validate(arguments, WEATHER_TOOL["function"]["parameters"])
        assert deltas[-1]["finish_reason"] == "tool_calls"

        follow = body(
            tools=[WEATHER_TOOL],
            messages=[
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": calls[0]["id"],
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny, 21 C"},
            ],
        )
        text = (await c.post("/v1/chat/completions", json=follow)).json()["choices"][0]["message"][
            "content"
        ]
        assert "sunny, 21 C" in text


def test_broken_schedule_is_exact_for_whole_multiples_and_shifted_by_the_seed() -> None:
    assert sum(is_broken(i, 0.25, 0) for i in range(20)) == 5
    assert sum(is_broken(i, 0.1, 7) for i in range(30)) == 3
    assert [is_broken(i, 0.5, 0) for i in range(4)] != [is_broken(i, 0.5, 1) for i in range(4)]
    assert not any(is_broken(i, 0, 0) for i in range(10))


def test_example_values_fit_their_schema() -> None:
    jsonschema.validate(example_for(SCHEMA), SCHEMA)


async def test_a_model_without_logprobs_ignores_the_parameter() -> None:
    app = create_app(
        Settings(models=[ModelConfig(name="plain", ttft_ms=0, itl_ms=0, logprobs=False)])
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as c:
        ask = {**body(stream=True, logprobs=True, top_logprobs=2), "model": "plain"}
        answer = await c.post("/v1/chat/completions", json=ask)
        assert answer.status_code == 200
        assert all(
            ch["choices"][0]["logprobs"] is None for ch in chunks(answer.text) if ch["choices"]
        )


async def test_vllm_tokenize_gives_the_token_texts_when_asked() -> None:
    async with client() as c:
        messages = [{"role": "user", "content": "The quick fox"}]
        answer = await c.post(
            f"/m/{MODEL}/tokenize", json={"messages": messages, "return_token_strs": True}
        )
        body = answer.json()
        assert body["token_strs"][3:6] == ["The", "quick", "fox"]
        assert len(body["token_strs"]) == body["count"] == 10
        plain = await c.post(f"/m/{MODEL}/tokenize", json={"messages": messages})
        assert plain.json()["token_strs"] is None


async def test_a_model_without_automatic_tool_calls_answers_in_text_unless_a_tool_is_named() -> (
    None
):
    config = ModelConfig(name="plain", personality="openai", ttft_ms=0, itl_ms=0,
                         tool_calls_auto=False)  # fmt: skip
    app = create_app(Settings(models=[config]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        ask = {"model": "plain", "messages": [{"role": "user", "content": "weather?"}]}
        auto = (await c.post("/v1/chat/completions", json={**ask, "tools": [WEATHER_TOOL]})).json()
        assert auto["choices"][0]["finish_reason"] != "tool_calls"
        assert auto["choices"][0]["message"].get("tool_calls") is None
        named = {"type": "function", "function": {"name": "get_weather"}}
        forced = await c.post(
            "/v1/chat/completions", json={**ask, "tools": [WEATHER_TOOL], "tool_choice": named}
        )
        assert forced.json()["choices"][0]["finish_reason"] == "tool_calls"
