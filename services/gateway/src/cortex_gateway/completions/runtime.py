"""Per-process state of the completions proxy: the API-key cache, the connections to model
servers, and work that outlives a request (recording answers and usage after a stream ends).

Tasks are kept here (so they are not garbage-collected mid-way) and awaited at shutdown before
the NATS connection is drained, so nothing a client was promised is dropped by a restart.
"""

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from nats.aio.client import Client as NatsClient

from cortex_contracts.topology import Topology
from cortex_gateway.completions.api_keys import ApiKeyCache
from cortex_gateway.completions.upstream import UpstreamPool

log = logging.getLogger(__name__)


class CompletionRuntime:
    def __init__(self, upstreams: UpstreamPool | None = None) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self.api_keys = ApiKeyCache()
        self.upstreams = upstreams or UpstreamPool()

    async def start(self, nc: NatsClient, topology: Topology) -> None:
        await self.api_keys.start(nc, topology)

    async def stop(self, drain_timeout_sec: float) -> None:
        await self.api_keys.stop()
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
