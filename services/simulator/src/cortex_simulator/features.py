"""What the inspector asks of a model: `logprobs`/`top_logprobs`, `response_format` and `tools`.

A request using none of them takes the plain paths (completions.py, streaming.py) untouched.
One that does gets a `RichAnswer` (JSON content, a tool call, or the answer after a tool's
result) and is sent by `rich_stream` / `rich_body`, which build every chunk as a dict: slower
than the plain path, but only requests that ask for these features pay for it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from cortex_simulator.answers import Answer
from cortex_simulator.errors import SimulatedError
from cortex_simulator.formats import DONE, LLAMACPP_FINGERPRINT, usage_dict
from cortex_simulator.logprobs import MAX_TOP_LOGPROBS, logprobs_for
from cortex_simulator.models import ModelState, Personality
from cortex_simulator.streaming import StreamTracker
from cortex_simulator.structured import broken_json, is_broken, valid_json
from cortex_simulator.tokens import content_text, split_pieces

OPENAI_FINGERPRINT = "fp_cortex_sim"


@dataclass(frozen=True, slots=True)
class Features:
    logprobs: bool = False
    top_logprobs: int = 0
    json_mode: bool = False
    schema: dict[str, Any] | None = None
    tool: dict[str, Any] | None = None  # the function to call now
    tool_result: str | None = None  # the last message is a tool's result: answer it in text

    @property
    def active(self) -> bool:
        return (
            self.logprobs or self.json_mode or self.tool is not None or self.tool_result is not None
        )


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: tuple[str, ...]  # token pieces of the arguments' JSON text


@dataclass(frozen=True, slots=True)
class RichAnswer:
    answer: Answer
    call: ToolCall | None = None

    @property
    def completion_tokens(self) -> int:
        return len(self.call.arguments) if self.call else self.answer.completion_tokens

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.call else self.answer.finish_reason


def _bad(message: str) -> SimulatedError:
    return SimulatedError(400, message)


def read_features(body: dict[str, Any], messages: list[Any]) -> Features:
    """The features a request asks for; SimulatedError 400 for malformed ones."""
    logprobs = body.get("logprobs")
    top = body.get("top_logprobs")
    if logprobs is not None and not isinstance(logprobs, bool):
        raise _bad("logprobs must be a boolean.")
    if top is not None:
        if not isinstance(top, int) or not 0 <= top <= MAX_TOP_LOGPROBS:
            raise _bad(f"top_logprobs must be an integer from 0 to {MAX_TOP_LOGPROBS}.")
        if not logprobs:
            raise _bad("top_logprobs requires logprobs to be true.")
    json_mode, schema = _response_format(body.get("response_format"))
    tool, tool_result = _tools(body.get("tools"), body.get("tool_choice"), messages)
    return Features(bool(logprobs), top or 0, json_mode, schema, tool, tool_result)


def _response_format(fmt: Any) -> tuple[bool, dict[str, Any] | None]:
    if fmt is None:
        return False, None
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
        raise _bad("response_format.type must be text, json_object or json_schema.")
    if fmt["type"] == "text":
        return False, None
    if fmt["type"] == "json_object":
        return True, None
    spec = fmt.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("schema", {}), dict):
        raise _bad("response_format.json_schema must be an object with a `schema` object.")
    return True, spec.get("schema") or {}


def _tools(
    tools: Any, choice: Any, messages: list[Any]
) -> tuple[dict[str, Any] | None, str | None]:
    if tools is None:
        return None, None
    if not isinstance(tools, list) or not all(
        isinstance(t, dict) and isinstance(t.get("function"), dict) and t["function"].get("name")
        for t in tools
    ):
        raise _bad("tools must be a list of {type: function, function: {name, parameters}}.")
    last = messages[-1]
    role = getattr(last, "role", None)
    if role == "tool":
        return None, content_text(getattr(last, "content", None))
    if choice == "none" or not tools:
        return None, None
    functions = [t["function"] for t in tools]
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        named = [f for f in functions if f.get("name") == wanted]
        if not named:
            raise _bad(f"tool_choice names an unknown function: {wanted!r}.")
        return named[0], None
    return functions[0], None


def shape_answer(state: ModelState, plain: Answer, features: Features) -> RichAnswer:
    """The answer for a request with features: a tool call, JSON, or the plain text."""
    if features.tool_result is not None:
        text = f"The tool returned: {features.tool_result.strip()}. That settles it."
        return RichAnswer(Answer((), tuple(split_pieces(text)), "stop"))
    if features.tool is not None or features.json_mode:
        index = state.counters.structured_answers
        state.counters.structured_answers += 1
        broken = is_broken(index, state.faults.break_rate, state.faults.break_seed)
        schema = features.tool.get("parameters") if features.tool else features.schema
        text = broken_json(schema) if broken else valid_json(schema)
        pieces = tuple(split_pieces(text))
        if features.tool is not None:
            call = ToolCall(f"call_{uuid.uuid4().hex[:24]}", str(features.tool["name"]), pieces)
            return RichAnswer(Answer((), (), "tool_calls"), call)
        return RichAnswer(Answer((), pieces, "stop"))
    return RichAnswer(plain)


def fingerprint(personality: Personality) -> str | None:
    if personality == "llamacpp":
        return LLAMACPP_FINGERPRINT
    return OPENAI_FINGERPRINT if personality == "openai" else None


@dataclass(frozen=True, slots=True)
class Frame:
    """The fields every chunk / the whole answer carries."""

    request_id: str
    created: int
    model: str
    personality: Personality

    def chunk(self, delta: dict[str, Any], **choice: Any) -> bytes:
        body = {
            "id": self.request_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": fingerprint(self.personality),
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None, **choice}
            ],
        }
        return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


async def rich_stream(
    state: ModelState,
    frame: Frame,
    rich: RichAnswer,
    features: Features,
    prompt_tokens: int,
    include_usage: bool,
    tracker: StreamTracker,
) -> AsyncIterator[bytes]:
    """SSE body with logprobs on content chunks and tool calls as OpenAI streams them: the first
    delta names the call (id, type, name, empty arguments), the next ones add argument text."""
    timing = state.timing
    counters = tracker.counters
    try:
        await asyncio.sleep(timing.ttft_ms / 1000.0)
        yield frame.chunk({"role": "assistant", "content": None if rich.call else ""})
        k = timing.tokens_per_chunk
        call = rich.call
        if call is not None:
            head = {"index": 0, "id": call.id, "type": "function"}
            yield frame.chunk(
                {"tool_calls": [{**head, "function": {"name": call.name, "arguments": ""}}]}
            )
        pieces = call.arguments if call else rich.answer.content
        for i in range(0, len(pieces), k):
            if i:
                await asyncio.sleep(timing.itl_ms * k / 1000.0)
            group = pieces[i : i + k]
            counters.streamed_tokens += len(group)
            text = "".join(group)
            if call is not None:
                yield frame.chunk({"tool_calls": [{"index": 0, "function": {"arguments": text}}]})
                continue
            lp = logprobs_for(group, i, features.top_logprobs) if features.logprobs else None
            yield frame.chunk({"content": text}, logprobs=lp)
        usage = usage_dict(prompt_tokens, rich.completion_tokens)
        yield frame.chunk({}, finish_reason=rich.finish_reason)
        if include_usage:
            body = {
                "id": frame.request_id,
                "object": "chat.completion.chunk",
                "created": frame.created,
                "model": frame.model,
                "choices": [],
                "usage": usage,
            }
            yield b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"
        yield DONE
        tracker.finish("completed")
    finally:
        tracker.finish("cancelled")


def rich_body(frame: Frame, rich: RichAnswer, features: Features, prompt_tokens: int) -> bytes:
    """The whole `chat.completion` object."""
    message: dict[str, Any] = {"role": "assistant", "content": rich.answer.text or None}
    logprobs = None
    if rich.call is not None:
        message["tool_calls"] = [
            {
                "id": rich.call.id,
                "type": "function",
                "function": {"name": rich.call.name, "arguments": "".join(rich.call.arguments)},
            }
        ]
    elif features.logprobs:
        logprobs = logprobs_for(rich.answer.content, 0, features.top_logprobs)
    body = {
        "id": frame.request_id,
        "object": "chat.completion",
        "created": frame.created,
        "model": frame.model,
        "system_fingerprint": fingerprint(frame.personality),
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": logprobs,
                "finish_reason": rich.finish_reason,
            }
        ],
        "usage": usage_dict(prompt_tokens, rich.completion_tokens),
    }
    return json.dumps(body, separators=(",", ":")).encode()
