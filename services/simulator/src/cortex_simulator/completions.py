"""`POST /v1/chat/completions`: validation, context checks, faults, streamed or whole answers."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import replace
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cortex_simulator.answers import Answer, build_answer
from cortex_simulator.errors import SimulatedError, openai_error
from cortex_simulator.features import Frame, read_features, rich_body, rich_stream, shape_answer
from cortex_simulator.formats import ChunkFormat, completion_body, timings_dict
from cortex_simulator.models import ModelState
from cortex_simulator.streaming import (
    SimStreamingResponse,
    StreamPlan,
    StreamTracker,
    TruncatedResponse,
    chat_stream,
    sleep_unless_disconnected,
    wait_while_hung,
)
from cortex_simulator.tokens import content_text, count_prompt_tokens

CLIENT_GONE_STATUS = 499


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[Any] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool | None = False


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SimulatedError(400, f"Request body is not valid JSON: {exc}") from exc


def _validate(payload: Any) -> ChatRequest:
    if not isinstance(payload, dict):
        raise SimulatedError(400, "Request body must be a JSON object")
    try:
        return ChatRequest.model_validate(payload)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ()))
        raise SimulatedError(400, f"Invalid request: {loc}: {err.get('msg')}") from exc


def last_user_text(req: ChatRequest) -> str:
    for message in reversed(req.messages):
        if message.role == "user":
            return content_text(message.content)
    return content_text(req.messages[-1].content)


def context_error(ctx: int, prompt: int, completion: int | None) -> SimulatedError:
    if completion is None:
        detail = f"However, your request has {prompt} input tokens. "
        advice = "Please reduce the length of the input messages."
    else:
        detail = (
            f"However, you requested {prompt + completion} tokens ({prompt} in the messages, "
            f"{completion} in the completion). "
        )
        advice = "Please reduce the length of the messages or completion."
    message = f"This model's maximum context length is {ctx} tokens. {detail}{advice}"
    return SimulatedError(400, message, "BadRequestError")


def plan_answer(state: ModelState, req: ChatRequest) -> tuple[int, Answer]:
    """Prompt token count and the answer, or SimulatedError (400/404)."""
    config = state.config
    if req.model and req.model != config.name and config.personality != "llamacpp":
        raise SimulatedError(404, f"The model `{req.model}` does not exist.", "NotFoundError")
    limit = req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens
    if limit is not None and limit < 1:
        raise SimulatedError(400, f"max_tokens must be at least 1, got {limit}.")
    ctx = config.context_per_request
    prompt_tokens = count_prompt_tokens(req.messages)
    if config.personality == "llamacpp":
        prompt_tokens += 1  # llama-server tokenizes the rendered prompt with a BOS token
    if prompt_tokens >= ctx:
        raise context_error(ctx, prompt_tokens, None)
    remaining = ctx - prompt_tokens
    if limit is not None and limit > remaining and config.personality != "llamacpp":
        raise context_error(ctx, prompt_tokens, limit)
    cap = remaining if limit is None else min(limit, remaining)
    reasoning = (
        config.reasoning_tokens if config.reasoning and config.personality != "openai" else 0
    )
    answer = build_answer(last_user_text(req), state.timing.output_tokens, cap, reasoning)
    return prompt_tokens, answer


def _fault_response(state: ModelState) -> Response | None:
    faults = state.faults
    if faults.loading and state.config.personality == "llamacpp":
        return openai_error(503, "Loading model", "unavailable_error")
    if faults.down or faults.loading:
        return openai_error(503, f"Model {state.name} is unavailable", "ServiceUnavailableError")
    if faults.fail_status is not None:
        return openai_error(faults.fail_status, faults.fail_message)
    return None


async def chat_completions(
    state: ModelState, request: Request, payload: Any = None, *, parsed: bool = False
) -> Response:
    """Answer one chat completion for ``state`` (``payload`` given when already parsed)."""
    counters = state.counters
    counters.requests_total += 1
    raw = b"" if parsed else await request.body()
    if not await wait_while_hung(request, state):
        return openai_error(CLIENT_GONE_STATUS, "Client closed the request")
    fault = _fault_response(state)
    if fault is not None:
        counters.failed_requests += 1
        return fault
    try:
        body = payload if parsed else parse_json(raw)
        req = _validate(body)
        features = read_features(body, req.messages)
        if not state.config.logprobs:
            features = replace(features, logprobs=False, top_logprobs=0)
        if not state.config.tool_calls_auto and not isinstance(body.get("tool_choice"), dict):
            features = replace(features, tool=None)
        prompt_tokens, answer = plan_answer(state, req)
    except SimulatedError as exc:
        counters.failed_requests += 1
        return exc.response()

    timing = state.timing
    request_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    personality = state.config.personality
    if features.active:
        rich = shape_answer(state, answer, features)
        frame = Frame(request_id, created, state.name, personality)
        if req.stream:
            include_usage = bool(req.stream_options and req.stream_options.include_usage)
            tracker = StreamTracker(counters)
            stream = rich_stream(
                state, frame, rich, features, prompt_tokens, include_usage, tracker
            )
            return SimStreamingResponse(stream, tracker)
        counters.completed_requests += 1
        return Response(
            rich_body(frame, rich, features, prompt_tokens), media_type="application/json"
        )
    if req.stream:
        fmt = ChunkFormat(personality, request_id, created, state.name)
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        plan = StreamPlan(
            state=state,
            fmt=fmt,
            answer=answer,
            prompt_tokens=prompt_tokens,
            include_usage=include_usage,
            ttft_s=timing.ttft_ms / 1000.0,
            itl_s=timing.itl_ms / 1000.0,
            tokens_per_chunk=timing.tokens_per_chunk,
        )
        tracker = StreamTracker(counters)
        return SimStreamingResponse(chat_stream(plan, tracker), tracker)
    return await _whole_answer(state, request, request_id, created, prompt_tokens, answer)


async def _whole_answer(
    state: ModelState,
    request: Request,
    request_id: str,
    created: int,
    prompt_tokens: int,
    answer: Answer,
) -> Response:
    counters = state.counters
    timing = state.timing
    n = answer.completion_tokens
    decode_ms = timing.itl_ms * max(n - 1, 0)
    counters.active_requests += 1
    try:
        if not await sleep_unless_disconnected(request, (timing.ttft_ms + decode_ms) / 1000.0):
            counters.cancelled_requests += 1
            return openai_error(CLIENT_GONE_STATUS, "Client closed the request")
    finally:
        counters.active_requests -= 1
    timings = None
    if state.config.personality == "llamacpp":
        timings = timings_dict(prompt_tokens, timing.ttft_ms, n, decode_ms + timing.itl_ms)
    body = completion_body(
        state.config.personality, request_id, created, state.name, prompt_tokens, answer, timings
    )
    encoded = json.dumps(body, separators=(",", ":")).encode("utf-8")
    if state.faults.drop_after_tokens is not None:
        counters.dropped_requests += 1
        return TruncatedResponse(encoded)
    counters.completed_requests += 1
    return Response(content=encoded, media_type="application/json")
