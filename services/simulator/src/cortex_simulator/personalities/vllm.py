"""vLLM personality: ``/health``, ``/version``, ``/v1/models``, ``/metrics``, ``/tokenize``,
chat completions."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from cortex_simulator.errors import SimulatedError
from cortex_simulator.models import ModelState
from cortex_simulator.personalities.common import (
    add_chat_routes,
    add_gated_get,
    add_tokenize_route,
)
from cortex_simulator.tokens import (
    BOS_ID,
    TOKEN_RE,
    prompt_token_ids,
    prompt_token_strs,
    token_ids,
)

VLLM_VERSION = "0.0.0+cortex.sim"


def model_card(state: ModelState) -> dict[str, Any]:
    return {
        "id": state.name,
        "object": "model",
        "created": state.created,
        "owned_by": "vllm",
        "root": state.name,
        "parent": None,
        "max_model_len": state.config.context_per_request,
    }


def tokenize_payload(state: ModelState, body: dict[str, Any]) -> dict[str, Any]:
    """vLLM ``/tokenize``: ``{model, messages}`` (chat template applied) or ``{model, prompt}``."""
    model = body.get("model")
    if model and model != state.name:
        raise SimulatedError(404, f"The model `{model}` does not exist.", "NotFoundError")
    messages = body.get("messages")
    strs: list[str] | None = None
    if isinstance(messages, list):
        if not all(isinstance(m, dict) for m in messages):
            raise SimulatedError(400, "messages must be a list of objects")
        generation_prompt = bool(body.get("add_generation_prompt", True))
        tokens = prompt_token_ids(messages, generation_prompt)
        if body.get("return_token_strs"):
            strs = prompt_token_strs(messages, generation_prompt)
    elif isinstance(body.get("prompt"), str):
        tokens = token_ids(body["prompt"])
        if body.get("return_token_strs"):
            strs = TOKEN_RE.findall(body["prompt"])
        if body.get("add_special_tokens", True):
            tokens.insert(0, BOS_ID)
            if strs is not None:
                strs.insert(0, "<s>")
    else:
        raise SimulatedError(400, "Either 'messages' or 'prompt' is required")
    return {
        "count": len(tokens),
        "max_model_len": state.config.context_per_request,
        "tokens": tokens,
        "token_strs": strs,
    }


def model_list(state: ModelState) -> dict[str, Any]:
    return {"object": "list", "data": [model_card(state)]}


def health(state: ModelState) -> Response:
    down = state.faults.down or state.faults.loading
    return Response(status_code=503 if down else 200)


# A made-up KV-cache share per running sequence: enough for the gauge to move under load.
KV_CACHE_PER_SEQUENCE = 0.02


def metrics(state: ModelState) -> Response:
    """Prometheus text with vLLM's scheduler gauges (names as vLLM >= 0.10 exports them): every
    open request is running (no scheduler queue here), the KV cache fills with them."""
    c = state.counters
    running = c.active_streams + c.active_requests
    label = f'{{model_name="{state.name}"}}'
    lines = [
        "# HELP vllm:num_requests_running Number of requests in model execution batches.",
        "# TYPE vllm:num_requests_running gauge",
        f"vllm:num_requests_running{label} {running}",
        "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
        "# TYPE vllm:num_requests_waiting gauge",
        f"vllm:num_requests_waiting{label} 0",
        "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.",
        "# TYPE vllm:kv_cache_usage_perc gauge",
        f"vllm:kv_cache_usage_perc{label} {min(1.0, running * KV_CACHE_PER_SEQUENCE)}",
    ]
    return Response("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")


def build_router(state: ModelState) -> APIRouter:
    router = APIRouter()
    add_gated_get(router, state, health, "/health")
    add_gated_get(router, state, lambda _: {"version": VLLM_VERSION}, "/version")
    add_gated_get(router, state, model_list, "/v1/models")
    add_gated_get(router, state, metrics, "/metrics")
    add_tokenize_route(router, state, partial(tokenize_payload, state))
    add_chat_routes(router, state, "/v1/chat/completions")
    return router
