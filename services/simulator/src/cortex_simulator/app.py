"""FastAPI application: every simulated model under ``/m/<name>``, plus root routing."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from cortex_simulator.completions import chat_completions, parse_json
from cortex_simulator.control import build_control_router
from cortex_simulator.errors import (
    DropConnectionMiddleware,
    SimulatedError,
    install_drop_log_filter,
    openai_error,
)
from cortex_simulator.models import ModelState, Registry
from cortex_simulator.personalities import build_router
from cortex_simulator.settings import Settings, load_models, load_settings


def model_prefix(name: str) -> str:
    """Path prefix (base_url suffix) of a simulated model."""
    return f"/m/{name}"


def _root_card(state: ModelState) -> dict[str, Any]:
    return {
        "id": state.name,
        "object": "model",
        "created": state.created,
        "owned_by": state.config.personality,
        "root": state.name,
        "max_model_len": state.config.context_per_request,
        "personality": state.config.personality,
        "base_path": model_prefix(state.name),
    }


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the simulator app; raises ConfigError on invalid configuration."""
    settings = settings if settings is not None else load_settings()
    registry = Registry(load_models(settings))
    app = FastAPI(title="cortex-simulator", version="0.1.0", docs_url=None, redoc_url=None)
    app.state.registry = registry
    app.state.settings = settings
    app.add_middleware(DropConnectionMiddleware)
    install_drop_log_filter()

    for state in registry:
        app.include_router(build_router(state), prefix=model_prefix(state.name))
    app.include_router(build_control_router(registry))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def all_models() -> dict[str, Any]:
        return {"object": "list", "data": [_root_card(state) for state in registry]}

    @app.post("/v1/chat/completions")
    async def routed_chat(request: Request) -> Response:
        try:
            payload = parse_json(await request.body())
        except SimulatedError as exc:
            return exc.response()
        model = payload.get("model") if isinstance(payload, dict) else None
        if not isinstance(model, str) or not model:
            return openai_error(400, "The 'model' field is required")
        state = registry.get(model)
        if state is None:
            return openai_error(404, f"The model `{model}` does not exist.", "NotFoundError")
        return await chat_completions(state, request, payload, parsed=True)

    @app.exception_handler(SimulatedError)
    async def simulated_error(_request: Request, exc: SimulatedError) -> Response:
        return exc.response()

    return app
