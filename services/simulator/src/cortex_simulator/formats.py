"""Wire shapes of chat completion chunks and answers, per personality.

Chunks are built from pre-formatted string pieces: per token only one ``json.dumps`` of the
text and a few string concatenations.
"""

from __future__ import annotations

import json
from typing import Any

from cortex_simulator.answers import Answer
from cortex_simulator.models import Personality

_dumps = json.dumps
LLAMACPP_FINGERPRINT = "b0000-cortex-sim"
DONE = b"data: [DONE]\n\n"


def usage_dict(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def timings_dict(
    prompt_n: int, prompt_ms: float, predicted_n: int, predicted_ms: float
) -> dict[str, Any]:
    """llama.cpp ``timings`` object."""
    prompt_ms = round(max(prompt_ms, 0.001), 3)
    predicted_ms = round(max(predicted_ms, 0.001), 3)
    return {
        "cache_n": 0,
        "prompt_n": prompt_n,
        "prompt_ms": prompt_ms,
        "prompt_per_token_ms": prompt_ms / max(prompt_n, 1),
        "prompt_per_second": prompt_n / (prompt_ms / 1000.0),
        "predicted_n": predicted_n,
        "predicted_ms": predicted_ms,
        "predicted_per_token_ms": predicted_ms / max(predicted_n, 1),
        "predicted_per_second": predicted_n / (predicted_ms / 1000.0),
    }


class ChunkFormat:
    """Builds the SSE ``data:`` lines of one streamed chat completion."""

    __slots__ = ("_choice_post", "_choice_pre", "_head", "_tail", "personality")

    def __init__(self, personality: Personality, request_id: str, created: int, model: str) -> None:
        self.personality = personality
        rid, mod = _dumps(request_id), _dumps(model)
        if personality == "llamacpp":
            self._head = 'data: {"choices":'
            self._tail = (
                f',"created":{created},"id":{rid},"model":{mod},'
                f'"system_fingerprint":"{LLAMACPP_FINGERPRINT}","object":"chat.completion.chunk"'
            )
            self._choice_pre = '[{"finish_reason":null,"index":0,"delta":{'
            self._choice_post = "}}]"
        else:
            self._head = (
                f'data: {{"id":{rid},"object":"chat.completion.chunk","created":{created},'
                f'"model":{mod},"choices":'
            )
            self._tail = ""
            self._choice_pre = '[{"index":0,"delta":{'
            self._choice_post = '},"logprobs":null,"finish_reason":null}]'

    def _chunk(self, choices: str, extra: str = "") -> bytes:
        return (self._head + choices + self._tail + extra + "}\n\n").encode()

    def role(self) -> bytes:
        """First chunk: the assistant role."""
        if self.personality == "llamacpp":
            delta = '"role":"assistant","content":null'
        elif self.personality == "openai":
            delta = '"role":"assistant","content":"","refusal":null'
        else:
            delta = '"role":"assistant","content":""'
        return self._chunk(self._choice_pre + delta + self._choice_post)

    def delta(self, key: str, text: str) -> bytes:
        """A content (``key="content"``) or reasoning (``"reasoning_content"``) chunk."""
        return (
            self._head
            + self._choice_pre
            + '"'
            + key
            + '":'
            + _dumps(text)
            + self._choice_post
            + self._tail
            + "}\n\n"
        ).encode()

    def finish(self, reason: str, extra: dict[str, Any] | None = None) -> bytes:
        """Chunk carrying the finish reason (empty delta)."""
        r = _dumps(reason)
        if self.personality == "llamacpp":
            choices = f'[{{"finish_reason":{r},"index":0,"delta":{{}}}}]'
        elif self.personality == "vllm":
            choices = (
                f'[{{"index":0,"delta":{{}},"logprobs":null,"finish_reason":{r},'
                '"stop_reason":null}]'
            )
        else:
            choices = f'[{{"index":0,"delta":{{}},"logprobs":null,"finish_reason":{r}}}]'
        return self._chunk(choices, _extra(extra))

    def usage(self, usage: dict[str, int], extra: dict[str, Any] | None = None) -> bytes:
        """Final ``choices: []`` chunk with usage (only when ``include_usage``)."""
        fields = {"usage": usage}
        if extra:
            fields.update(extra)
        return self._chunk("[]", _extra(fields))


def _extra(fields: dict[str, Any] | None) -> str:
    if not fields:
        return ""
    return "," + _dumps(fields, separators=(",", ":"))[1:-1]


def completion_body(
    personality: Personality,
    request_id: str,
    created: int,
    model: str,
    prompt_tokens: int,
    answer: Answer,
    timings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Non-streaming ``chat.completion`` object."""
    usage = usage_dict(prompt_tokens, answer.completion_tokens)
    if personality == "llamacpp":
        message: dict[str, Any] = {"role": "assistant", "content": answer.text}
        if answer.reasoning:
            message["reasoning_content"] = answer.reasoning_text
        body: dict[str, Any] = {
            "choices": [{"finish_reason": answer.finish_reason, "index": 0, "message": message}],
            "created": created,
            "model": model,
            "system_fingerprint": LLAMACPP_FINGERPRINT,
            "object": "chat.completion",
            "usage": usage,
            "id": request_id,
        }
        if timings is not None:
            body["timings"] = timings
        return body
    # vLLM and OpenAI share the layout; vLLM adds its own null fields.
    if personality == "vllm":
        message = {
            "role": "assistant",
            "reasoning_content": answer.reasoning_text if answer.reasoning else None,
            "content": answer.text,
            "tool_calls": [],
        }
        choice_extra: dict[str, Any] = {"stop_reason": None}
        extra: dict[str, Any] = {
            "usage": {**usage, "prompt_tokens_details": None},
            "prompt_logprobs": None,
        }
    else:
        message = {"role": "assistant", "content": answer.text, "refusal": None}
        choice_extra = {}
        extra = {"usage": usage, "system_fingerprint": None}
    return {
        "id": request_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": answer.finish_reason,
                **choice_extra,
            }
        ],
        **extra,
    }
