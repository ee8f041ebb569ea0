"""Helpers shared by the personality routers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from cortex_simulator.completions import CLIENT_GONE_STATUS, chat_completions, parse_json
from cortex_simulator.errors import SimulatedError, openai_error
from cortex_simulator.models import ModelState
from cortex_simulator.streaming import wait_while_hung


async def gate(request: Request, state: ModelState) -> Response | None:
    """Hold the request while the model hangs; a response if it must not be served."""
    if not await wait_while_hung(request, state):
        return Response(status_code=CLIENT_GONE_STATUS)
    if state.faults.loading and state.config.personality == "llamacpp":
        return loading_response()
    return None


def loading_response() -> Response:
    return JSONResponse(
        {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}},
        status_code=503,
    )


async def read_json_object(request: Request) -> dict[str, Any]:
    payload = parse_json(await request.body())
    if not isinstance(payload, dict):
        raise SimulatedError(400, "Request body must be a JSON object")
    return payload


def add_gated_get(
    router: APIRouter, state: ModelState, answer: Callable[[ModelState], Any], *paths: str
) -> None:
    """``GET <path>`` → ``answer(state)`` (a response, or a payload sent as JSON) once the gate
    lets the request through, for every path given."""

    async def get(request: Request) -> Response:
        blocked = await gate(request, state)
        if blocked is not None:
            return blocked
        payload = answer(state)
        return payload if isinstance(payload, Response) else JSONResponse(payload)

    for path in paths:
        router.add_api_route(path, get, methods=["GET"])


def add_chat_routes(router: APIRouter, state: ModelState, *paths: str) -> None:
    """``POST <path>`` → chat completion for every path given."""

    async def chat(request: Request) -> Response:
        return await chat_completions(state, request)

    for path in paths:
        router.add_api_route(path, chat, methods=["POST"])


def bad_request(exc: SimulatedError) -> Response:
    return openai_error(exc.status, exc.message, exc.type_)


def add_tokenize_route(
    router: APIRouter, state: ModelState, payload: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    """``POST /tokenize`` → ``payload(body)``; a body that is not a JSON object is refused before
    the gate."""

    async def tokenize(request: Request) -> Response:
        try:
            body = await read_json_object(request)
        except SimulatedError as exc:
            return bad_request(exc)
        blocked = await gate(request, state)
        if blocked is not None:
            return blocked
        try:
            return JSONResponse(payload(body))
        except SimulatedError as exc:
            return bad_request(exc)

    router.add_api_route("/tokenize", tokenize, methods=["POST"])
