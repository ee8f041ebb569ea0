"""Generic OpenAI-compatible personality: only ``/v1/models`` and chat completions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from cortex_simulator.models import ModelState
from cortex_simulator.personalities.common import add_chat_routes, add_gated_get


def model_card(state: ModelState) -> dict[str, Any]:
    return {"id": state.name, "object": "model", "created": state.created, "owned_by": "system"}


def model_list(state: ModelState) -> dict[str, Any]:
    return {"object": "list", "data": [model_card(state)]}


def build_router(state: ModelState) -> APIRouter:
    router = APIRouter()
    add_gated_get(router, state, model_list, "/v1/models")
    add_chat_routes(router, state, "/v1/chat/completions")
    return router
