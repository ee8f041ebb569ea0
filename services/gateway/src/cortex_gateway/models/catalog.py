"""The gateway's view of the model registry.

The registry lives in a NATS KV bucket (`Topology.registry_bucket`, key `model_key(name)`, value
`Upstream` JSON) shared by every gateway replica and the health service. Each gateway seeds it from
CORTEX_MODELS_FILE at start (rules in `registry.py`) and follows it with a KV watch, so a change
made through any replica is seen by all of them within milliseconds. Reads are in memory.
"""

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import yaml
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from pydantic import BaseModel

from cortex_contracts.events.models import Upstream
from cortex_contracts.topology import Topology, model_name_from_key
from cortex_gateway.models import registry
from cortex_runtime.kv import KvEntry, ensure_bucket, follow_bucket

log = logging.getLogger(__name__)

FIRST_LOAD_TIMEOUT_SEC = 10.0
DEFAULT_MAX_TOKENS = 512


class ModelsFile(BaseModel):
    upstreams: list[Upstream] = []


def read_models_file(path: Path) -> list[Upstream]:
    raw: Any = yaml.safe_load(path.read_text()) or {}
    return ModelsFile.model_validate(raw).upstreams


class ModelCatalog:
    """Registered upstreams by served_model_name. Without `attach` it is a plain local map."""

    def __init__(self, upstreams: list[Upstream] | None = None) -> None:
        self._upstreams: dict[str, Upstream] = {u.served_model_name: u for u in upstreams or []}
        self._revisions: dict[str, int] = {}
        self._kv: KeyValue | None = None
        self._follow: asyncio.Task[None] | None = None
        self._loaded = asyncio.Event()

    # --- reading ----------------------------------------------------------------------------
    def get(self, name: str) -> Upstream | None:
        return self._upstreams.get(name)

    def all(self) -> list[Upstream]:
        return list(self._upstreams.values())

    # --- lifecycle --------------------------------------------------------------------------
    async def attach(
        self, js: JetStreamContext, topology: Topology, baseline: list[Upstream] | None
    ) -> list[registry.Seeded]:
        """Create the bucket if needed, seed it from the file's `baseline`, then follow it.

        Returns the changes seeding made, for the audit trail."""
        self._kv = await ensure_bucket(js, topology.registry_bucket_config())
        seeded = [] if baseline is None else await registry.seed_from_file(self._kv, baseline)
        self._follow = asyncio.create_task(follow_bucket(js, topology.registry_bucket, self))
        try:
            await asyncio.wait_for(self._loaded.wait(), FIRST_LOAD_TIMEOUT_SEC)
        except TimeoutError:
            log.warning(
                "model registry not loaded after %ss; serving what is known",
                FIRST_LOAD_TIMEOUT_SEC,
            )
        return seeded

    async def detach(self) -> None:
        if self._follow is not None:
            self._follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follow

    # --- writing (admin) --------------------------------------------------------------------
    async def register(self, upstream: Upstream) -> None:
        if self._kv is None:
            self._upstreams[upstream.served_model_name] = upstream
            return
        revision = await registry.put(self._kv, upstream)
        self._take(upstream.served_model_name, upstream, revision)  # read-your-writes here

    async def unregister(self, name: str) -> None:
        if self._kv is None:
            self._upstreams.pop(name, None)
            return
        revision = await registry.remove(self._kv, name)
        self._take(name, None, revision)

    # --- following the bucket (cortex_runtime.kv.BucketFollower) -------------------
    def replace_all(self, entries: list[KvEntry]) -> None:
        fresh: dict[str, tuple[Upstream, int]] = {}
        for entry in entries:
            upstream = registry.decode(entry.value)
            if upstream is not None:
                fresh[upstream.served_model_name] = (upstream, entry.revision)
        self._upstreams = {name: upstream for name, (upstream, _) in fresh.items()}
        self._revisions = {name: revision for name, (_, revision) in fresh.items()}
        self._loaded.set()

    def apply(self, entry: KvEntry) -> None:
        upstream = registry.decode(entry.value)
        if upstream is not None:
            self._take(upstream.served_model_name, upstream, entry.revision)
            return
        if entry.value is None:
            try:
                name = model_name_from_key(entry.key)
            except ValueError:
                return
            self._take(name, None, entry.revision)

    def _take(self, name: str, upstream: Upstream | None, revision: int) -> None:
        """Apply a change unless a newer one was already applied (local writes race the watch)."""
        if revision and revision < self._revisions.get(name, 0):
            return
        self._revisions[name] = revision
        if upstream is None:
            self._upstreams.pop(name, None)
        else:
            self._upstreams[name] = upstream


def derived_max_tokens(max_model_len: int | None) -> int:
    """A sensible answer length when none is configured: 512, or a quarter of a small context."""
    if max_model_len is None:
        return DEFAULT_MAX_TOKENS
    return max(1, min(DEFAULT_MAX_TOKENS, max_model_len // 4))


def constraints_of(upstream: Upstream, max_model_len: int | None = None) -> dict[str, Any]:
    """The owner's constraints fields. `max_model_len`: the context discovered from the engine
    (see models/engine.py), used when the registry does not configure `context_size`."""
    context = upstream.context_size or max_model_len
    return {
        "served_model_name": upstream.served_model_name,
        "engine_type": upstream.engine_type,
        "task": upstream.task,
        "context_size": upstream.context_size,
        "max_model_len": context,
        "max_tokens_default": upstream.max_tokens_default or derived_max_tokens(context),
        "request_defaults": upstream.request_defaults,
        "supports_streaming": True,
        "supports_system_prompt": True,
    }


def public_view(upstream: Upstream) -> dict[str, Any]:
    """Registry fields for API answers: the upstream's own API key is never shown."""
    data = upstream.model_dump(mode="json", exclude={"api_key"})
    data["has_api_key"] = upstream.api_key is not None
    return data
