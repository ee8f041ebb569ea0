"""The health service: follows the registry, polls model servers on a schedule, answers refresh
requests, and publishes health into a bucket whose entries expire."""

import asyncio
import contextlib
import logging
from operator import attrgetter

import httpx

from cortex_contracts.messages.health import RefreshHealth, RefreshHealthReply
from cortex_health.poller import HealthPoller
from cortex_health.settings import Settings
from cortex_runtime.kv import ensure_bucket, follow_bucket
from cortex_runtime.responder import Endpoint
from cortex_runtime.service import Context, Service

LEDGER_LOAD_TIMEOUT_SEC = 2.0

REFRESH = Endpoint(
    title="health.refresh request",
    subject=attrgetter("health_refresh_subject"),
    request=RefreshHealth,
    replies=(RefreshHealthReply,),
    description="Probe now and publish to the health bucket, then answer.",
)


async def start(ctx: Context[Settings]) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe is noise
    settings, topology, js = ctx.settings, ctx.topology, ctx.js
    registry_kv = await ensure_bucket(js, topology.registry_bucket_config())
    health_kv = await ensure_bucket(js, topology.health_bucket_config(settings.ttl_sec))
    client = httpx.AsyncClient(
        timeout=settings.probe_timeout_sec,
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
    )
    ctx.on_stop(client.aclose)
    poller = HealthPoller(settings, client, health_kv, registry_kv)
    ctx.on_stop(poller.stop)
    ctx.answer(REFRESH, poller.refresh)

    async def follow_and_poll() -> None:
        ledger = asyncio.create_task(follow_bucket(js, topology.health_bucket, poller.ledger))
        registry: asyncio.Task[None] | None = None
        try:
            # Read the published health first, so history and failure counts carry on.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(poller.ledger.loaded.wait(), LEDGER_LOAD_TIMEOUT_SEC)
            registry = asyncio.create_task(
                follow_bucket(js, topology.registry_bucket, poller.registry)
            )
            await poller.run()
        finally:
            for task in (ledger, registry):
                if task is not None:
                    task.cancel()
            await asyncio.gather(ledger, *([registry] if registry else []), return_exceptions=True)

    ctx.run(follow_and_poll, cancel_at_stop=True)


service = Service(name="health", settings=Settings, start=start, answers=(REFRESH,))
