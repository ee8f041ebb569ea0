"""What the gateway keeps of a playground exchange: tool-call deltas joined as the OpenAI SDK
joins them, credentials masked, logprobs kept, and the record held under its size cap."""

from __future__ import annotations

import json

import pytest

from cortex_gateway.completions.inspection import (
    INSPECT_MAX_BYTES,
    Inspection,
    ToolCallAssembler,
    masked_headers,
)

pytestmark = pytest.mark.unit


def test_streamed_tool_call_deltas_are_joined_by_index_with_arguments_concatenated() -> None:
    calls = ToolCallAssembler()
    calls.add(
        [
            {
                "index": 0,
                "id": "call_a",
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            }
        ]
    )
    calls.add(
        [
            {
                "index": 1,
                "id": "call_b",
                "type": "function",
                "function": {"name": "get_time", "arguments": '{"tz'},
            }
        ]
    )
    calls.add([{"index": 0, "function": {"arguments": '{"city": '}}])
    calls.add([{"index": 1, "function": {"arguments": '": "CET"}'}}])
    calls.add([{"index": 0, "function": {"arguments": '"Oslo"}'}}])
    weather = {"name": "get_weather", "arguments": '{"city": "Oslo"}'}
    time = {"name": "get_time", "arguments": '{"tz": "CET"}'}
    assert calls.result() == [
        {"id": "call_a", "type": "function", "function": weather},
        {"id": "call_b", "type": "function", "function": time},
    ]


def test_an_id_and_name_repeated_in_every_delta_are_kept_once() -> None:
    # llama-cpp-python's server sends the whole id and name with each arguments piece.
    calls = ToolCallAssembler()
    for piece in ('{"city": ', '"Oslo"}'):
        function = {"name": "get_weather", "arguments": piece}
        calls.add([{"index": 0, "id": "call_x", "type": "function", "function": function}])
    weather = {"name": "get_weather", "arguments": '{"city": "Oslo"}'}
    assert calls.result() == [{"id": "call_x", "type": "function", "function": weather}]


def test_a_whole_answers_tool_calls_are_kept_as_they_came() -> None:
    calls = ToolCallAssembler()
    whole = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    calls.whole(whole)
    assert calls.result() == whole


def test_credentials_are_masked_and_other_headers_kept() -> None:
    headers = {
        "Authorization": "Bearer sk-live-123",
        "api-key": "abc",
        "Accept": "text/event-stream",
    }
    assert masked_headers(headers) == {
        "Authorization": "Bearer ***", "api-key": "***", "Accept": "text/event-stream",
    }  # fmt: skip


def chunk(i: int) -> dict[str, object]:
    alternatives = [{"token": f" alt{j}", "logprob": -2.0, "bytes": [32] * 5} for j in range(5)]
    token = {"token": f" word{i}", "logprob": -0.1, "bytes": [32] * 6, "top_logprobs": alternatives}
    choice = {"index": 0, "delta": {"content": f" word{i}"}, "logprobs": {"content": [token]}}
    return {"model": "m", "system_fingerprint": "fp", "choices": [choice]}


def test_the_record_keeps_logprobs_parameters_and_fingerprint_and_stays_under_the_cap() -> None:
    inspection = Inspection()
    body = {"model": "m", "messages": [{"role": "user", "content": "x" * 20_000}] * 4,
            "seed": 9, "temperature": 0.5, "logprobs": True, "top_logprobs": 5,
            "response_format": {"type": "json_schema", "json_schema": {"schema": {}}}}  # fmt: skip
    inspection.sent(
        "http://engine/v1/chat/completions",
        {"Authorization": "Bearer k"},
        json.dumps(body).encode(),
    )
    for i in range(3000):
        data = json.dumps(chunk(i)).encode()
        inspection.chunk(b"data: " + data + b"\n\n")
        inspection.observe(chunk(i), chunk(i)["choices"][0])  # type: ignore[index]
    inspection.chunk(b"data: [DONE]\n\n")

    record = inspection.record(
        head=(200, {"content-type": "text/event-stream"}), usage={"completion_tokens": 3000}
    )

    assert len(json.dumps(record, separators=(",", ":")).encode()) <= INSPECT_MAX_BYTES
    assert record["params"] == {"model": "m", "seed": 9, "temperature": 0.5, "logprobs": True,
                                "top_logprobs": 5, "response_format": "json_schema"}  # fmt: skip
    assert record["system_fingerprint"] == "fp" and record["model_id"] == "m"
    assert record["logprobs"]["returned"] and record["logprobs"]["requested"]
    kept = record["logprobs"]["content"]
    assert 0 < len(kept) < 3000 and kept[0]["token"] == " word0"
    assert record["truncated"] == [
        "request: last of 4 messages kept",
        f"logprobs: first {len(kept)} of 3000 tokens kept",
    ]
    assert "word2999" in record["last_chunk"]  # the last real chunk, not the end marker
    assert record["request"]["headers"] == {"Authorization": "Bearer ***"}
