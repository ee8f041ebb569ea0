"""Per-personality routers: each simulated model is mounted under ``/m/<name>``."""

from __future__ import annotations

from fastapi import APIRouter

from cortex_simulator.models import ModelState
from cortex_simulator.personalities import llamacpp, openai, vllm


def build_router(state: ModelState) -> APIRouter:
    """Router of one simulated server (paths relative to its ``/m/<name>`` prefix)."""
    personality = state.config.personality
    if personality == "vllm":
        return vllm.build_router(state)
    if personality == "llamacpp":
        return llamacpp.build_router(state)
    return openai.build_router(state)
