"""Runtime control of the simulated models: faults, timing overrides, counters.

- ``GET  /_control``               → ``{"models": [state, ...]}``
- ``GET  /_control/<model>``       → state (counters, faults, effective timing, config)
- ``POST /_control/<model>``       → partial update, answers the new state
- ``POST /_control/<model>/reset`` → configured timing, no faults, zeroed counters

In an update, ``null`` restores a field's default (faults off, configured timing).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from cortex_simulator.models import Faults, ModelState, Registry, Timing

_FAULT_FIELDS = frozenset(Faults.__dataclass_fields__)
_TIMING_FIELDS = frozenset(Timing.__dataclass_fields__)


class ControlUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fail_status: int | None = Field(default=None, ge=400, le=599)
    fail_message: str | None = None
    drop_after_tokens: int | None = Field(default=None, ge=0)
    hang: bool | None = None
    down: bool | None = None
    loading: bool | None = None
    break_rate: float | None = Field(default=None, ge=0, le=1)
    break_seed: int | None = Field(default=None, ge=0)
    ttft_ms: float | None = Field(default=None, ge=0)
    itl_ms: float | None = Field(default=None, ge=0)
    output_tokens: int | None = Field(default=None, ge=1)
    tokens_per_chunk: int | None = Field(default=None, ge=1)


def apply_update(state: ModelState, update: ControlUpdate) -> None:
    """Apply the fields present in ``update``; ``null`` means default."""
    default_faults = Faults()
    default_timing = Timing.from_config(state.config)
    for name in update.model_fields_set:
        value = getattr(update, name)
        if name in _FAULT_FIELDS:
            target: Any = state.faults
            default: Any = getattr(default_faults, name)
        elif name in _TIMING_FIELDS:
            target = state.timing
            default = getattr(default_timing, name)
        else:  # pragma: no cover - every ControlUpdate field is one of the two
            continue
        if value is None:
            value = default
        setattr(target, name, value)


def build_control_router(registry: Registry) -> APIRouter:
    router = APIRouter(prefix="/_control", tags=["control"])

    def lookup(model: str) -> ModelState:
        state = registry.get(model)
        if state is None:
            raise HTTPException(status_code=404, detail=f"Unknown model {model!r}")
        return state

    @router.get("")
    async def list_states() -> dict[str, Any]:
        return {"models": [state.snapshot() for state in registry]}

    @router.get("/{model}")
    async def get_state(model: str) -> dict[str, Any]:
        return lookup(model).snapshot()

    @router.post("/{model}")
    async def update_state(model: str, update: ControlUpdate) -> dict[str, Any]:
        state = lookup(model)
        apply_update(state, update)
        return state.snapshot()

    @router.post("/{model}/reset")
    async def reset_state(model: str) -> dict[str, Any]:
        state = lookup(model)
        state.reset()
        return state.snapshot()

    return router
