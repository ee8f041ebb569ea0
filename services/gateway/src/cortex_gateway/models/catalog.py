"""The gateway's view of registered upstreams (the model registry).

Seeded from CORTEX_MODELS_FILE at start. Shared through NATS: see `registry.py` when present.
"""

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from cortex_contracts.events.models import Upstream


class ModelsFile(BaseModel):
    upstreams: list[Upstream] = []


def read_models_file(path: Path) -> list[Upstream]:
    raw: Any = yaml.safe_load(path.read_text()) or {}
    return ModelsFile.model_validate(raw).upstreams


class ModelCatalog:
    def __init__(self, upstreams: list[Upstream] | None = None) -> None:
        self._upstreams: dict[str, Upstream] = {u.served_model_name: u for u in upstreams or []}

    def get(self, name: str) -> Upstream | None:
        return self._upstreams.get(name)

    def all(self) -> list[Upstream]:
        return list(self._upstreams.values())

    def put(self, upstream: Upstream) -> None:
        self._upstreams[upstream.served_model_name] = upstream

    def remove(self, name: str) -> None:
        self._upstreams.pop(name, None)


def constraints_of(upstream: Upstream) -> dict[str, Any]:
    """The owner's constraints fields, as far as the registry knows them."""
    return {
        "served_model_name": upstream.served_model_name,
        "engine_type": upstream.engine_type,
        "task": upstream.task,
        "context_size": upstream.context_size,
        "max_model_len": upstream.context_size,
        "max_tokens_default": upstream.max_tokens_default,
        "request_defaults": upstream.request_defaults,
        "supports_streaming": True,
        "supports_system_prompt": True,
    }
