"""llama.cpp (llama-server) personality.

``n_ctx`` is the total context given with ``-c`` and shared by ``total_slots`` slots; each slot
(so each request) gets ``n_ctx / total_slots`` tokens, which is what real llama-server reports as
``default_generation_settings.n_ctx``.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from cortex_simulator.errors import SimulatedError
from cortex_simulator.formats import LLAMACPP_FINGERPRINT
from cortex_simulator.models import ModelState
from cortex_simulator.personalities.common import (
    add_chat_routes,
    add_gated_get,
    add_tokenize_route,
    bad_request,
    gate,
    read_json_object,
)
from cortex_simulator.tokens import (
    BOS_ID,
    MSG_END_ID,
    MSG_START_ID,
    VOCAB_SIZE,
    content_text,
    split_pieces,
    token_id,
)

# The toy template renders `<|im_start|>role:` so that, with the special tokens parsed, a
# message costs 4 tokens around its content and the answer prompt 3, as the chat endpoint counts.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}:\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant:\n{% endif %}"
)
SPECIAL_TOKENS = {"<|im_start|>": MSG_START_ID, "<|im_end|>": MSG_END_ID}
SPECIAL_RE = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")")


def render_chat(messages: list[Any], add_generation_prompt: bool = True) -> str:
    """``/apply-template``: the prompt the chat endpoint would tokenize (CHAT_TEMPLATE)."""
    parts = []
    for message in messages:
        if not isinstance(message, dict):
            raise SimulatedError(400, "messages must be a list of objects")
        role = str(message.get("role", "user"))
        parts.append(f"<|im_start|>{role}:\n{content_text(message.get('content'))}<|im_end|>\n")
    if add_generation_prompt:
        parts.append("<|im_start|>assistant:\n")
    return "".join(parts)


def _pieces(content: str, parse_special: bool) -> list[tuple[int, str]]:
    """(id, piece) of every token; special tokens are single tokens when parsed."""
    segments = SPECIAL_RE.split(content) if parse_special else [content]
    out: list[tuple[int, str]] = []
    for segment in segments:
        if segment in SPECIAL_TOKENS and parse_special:
            out.append((SPECIAL_TOKENS[segment], segment))
        else:
            out.extend((token_id(p.strip()), p) for p in split_pieces(segment))
    return out


def model_path(state: ModelState) -> str:
    return state.config.model_path or f"/models/{state.name}.gguf"


def slot_state(state: ModelState, slot: int, processing: bool = False) -> dict[str, Any]:
    return {
        "id": slot,
        "id_task": -1,
        "n_ctx": state.config.context_per_request,
        "speculative": False,
        "is_processing": processing,
        "params": {
            "n_predict": -1,
            "temperature": 0.8,
            "top_k": 40,
            "top_p": 0.95,
            "min_p": 0.05,
            "max_tokens": -1,
            "stream": True,
        },
        "prompt": "",
        "next_token": {"has_next_token": True, "n_remain": -1, "n_decoded": 0},
    }


def props(state: ModelState) -> dict[str, Any]:
    config = state.config
    return {
        "default_generation_settings": slot_state(state, 0),
        "total_slots": config.slots,
        "n_ctx": config.max_context,
        "model_path": model_path(state),
        "modalities": {"vision": False, "audio": False},
        "chat_template": CHAT_TEMPLATE,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "build_info": LLAMACPP_FINGERPRINT,
    }


def model_list(state: ModelState) -> dict[str, Any]:
    config = state.config
    n_ctx_train = config.n_ctx_train or config.max_context
    card = {
        "id": state.name,
        "object": "model",
        "created": state.created,
        "owned_by": "llamacpp",
        "meta": {
            "vocab_type": 2,
            "n_vocab": VOCAB_SIZE,
            "n_ctx_train": n_ctx_train,
            "n_embd": 4096,
            "n_params": 8_030_261_248,
            "size": 4_920_734_720,
        },
    }
    return {"object": "list", "data": [card]}


def tokenize_payload(body: dict[str, Any]) -> dict[str, Any]:
    """llama.cpp ``/tokenize``: ``{content, add_special?, parse_special?, with_pieces?}`` →
    ``{tokens}`` (``parse_special`` defaults to true, as in llama-server)."""
    content = body.get("content", "")
    if not isinstance(content, str):
        raise SimulatedError(400, "'content' must be a string")
    pieces = _pieces(content, bool(body.get("parse_special", True)))
    tokens: list[Any]
    if body.get("with_pieces"):
        tokens = [{"id": i, "piece": p} for i, p in pieces]
        if body.get("add_special"):
            tokens.insert(0, {"id": BOS_ID, "piece": "<s>"})
    else:
        tokens = [i for i, _ in pieces]
        if body.get("add_special"):
            tokens.insert(0, BOS_ID)
    return {"tokens": tokens}


def health(state: ModelState) -> dict[str, Any] | Response:
    if state.faults.down:
        return JSONResponse(
            {"error": {"code": 503, "message": "Unavailable", "type": "unavailable_error"}},
            status_code=503,
        )
    return {"status": "ok"}


def slots(state: ModelState) -> list[dict[str, Any]]:
    busy = state.counters.active_streams + state.counters.active_requests
    return [slot_state(state, i, i < busy) for i in range(state.config.slots)]


def build_router(state: ModelState) -> APIRouter:
    router = APIRouter()
    add_gated_get(router, state, health, "/health")
    add_gated_get(router, state, props, "/props")
    add_gated_get(router, state, slots, "/slots")
    add_gated_get(router, state, model_list, "/v1/models", "/models")
    add_tokenize_route(router, state, tokenize_payload)

    @router.post("/apply-template")
    async def apply_template(request: Request) -> Response:
        try:
            body = await read_json_object(request)
            blocked = await gate(request, state)
            if blocked is not None:
                return blocked
            messages = body.get("messages")
            if not isinstance(messages, list):
                raise SimulatedError(400, "'messages' must be a list")
            return JSONResponse({"prompt": render_chat(messages)})
        except SimulatedError as exc:
            return bad_request(exc)

    add_chat_routes(router, state, "/v1/chat/completions", "/chat/completions")
    return router
