"""Generic OpenAI-compatible personality: only ``/v1/models`` and chat completions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from cortex_simulator.models import ModelState
from cortex_simulator.personalities.common import add_chat_routes, gate


def model_card(state: ModelState) -> dict[str, Any]:
    return {"id": state.name, "object": "model", "created": state.created, "owned_by": "system"}


def build_router(state: ModelState) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/models")
    async def models(request: Request) -> Response:
        blocked = await gate(request, state)
        return blocked or JSONResponse({"object": "list", "data": [model_card(state)]})

    add_chat_routes(router, state, "/v1/chat/completions")
    return router
