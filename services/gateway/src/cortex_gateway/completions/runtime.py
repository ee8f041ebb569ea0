"""Per-process state of the completions proxy: what it uses of the gateway (settings, database,
NATS, model registry and health, engine client), the credential cache, the connections to model
servers, and work that outlives a request (recording answers and usage after a stream ends).

Built once in the lifespan (app.py); the hot path reads it from `app.state.completions` once per
request and hands it down (completions/routes.py), with no dependency solving.

Tasks are kept here (so they are not garbage-collected mid-way) and awaited at shutdown before
the NATS connection is drained, so nothing a client was promised is dropped by a restart.
"""

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncEngine

from cortex_contracts.topology import Topology
from cortex_gateway.auth.cache import CredentialCache
from cortex_gateway.completions.upstream import UpstreamPool
from cortex_gateway.models.catalog import ModelCatalog
from cortex_gateway.models.engine import EngineClient
from cortex_gateway.models.health_view import HealthView
from cortex_gateway.settings import Settings
from cortex_runtime.query import QueryClient

log = logging.getLogger(__name__)


class CompletionRuntime:
    def __init__(
        self,
        settings: Settings,
        *,
        database: AsyncEngine,
        nats: NatsClient,
        js: JetStreamContext,
        queries: QueryClient,
        catalog: ModelCatalog,
        health: HealthView,
        engines: EngineClient,
    ) -> None:
        self.settings = settings
        self.topology: Topology = settings.topology
        self.database = database  # credentials not in the cache (auth/cache.py)
        self.nats = nats  # stop requests for the streams relayed here (stop.py)
        self.js = js  # the playground's chat events, usage events (playground.py, finish.py)
        self.queries = queries  # stop requests for streams relayed elsewhere
        self.catalog = catalog
        self.health = health
        self.engines = engines  # token counts when the model server reports none (finish.py)
        self.credentials = CredentialCache()  # shared with every route (app.state.credentials)
        self.upstreams = UpstreamPool(
            connect_timeout_sec=settings.upstream_connect_timeout_sec,
            read_timeout_sec=settings.upstream_read_timeout_sec,
            max_exchanges=settings.upstream_max_connections,
        )
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.credentials.start(self.nats, self.topology)

    async def stop(self, drain_timeout_sec: float) -> None:
        await self.credentials.stop()
        await self.drain(drain_timeout_sec)
        self.upstreams.close()

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Start `work` now; safe to call while the calling task is being cancelled."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background completion work failed", exc_info=task.exception())

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout_sec: float) -> None:
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=timeout_sec)
        if late:
            log.error("%d completion records still pending at shutdown", len(late))
