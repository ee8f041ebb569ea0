"""Wiring: follow the registry, poll on a schedule, answer refresh requests, ops HTTP routes."""

import asyncio
import contextlib
import logging
from typing import Any

import httpx
from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker

from cortex_contracts.messages.health import RefreshHealth
from cortex_contracts.runtime.jetstream import ensure_streams
from cortex_contracts.runtime.kv import ensure_bucket, follow_bucket
from cortex_contracts.runtime.ops import ops_routes
from cortex_health.poller import HealthPoller
from cortex_health.settings import Settings

log = logging.getLogger(__name__)
QUEUE_GROUP = "health"
LEDGER_LOAD_TIMEOUT_SEC = 2.0


def create_app(settings: Settings) -> AsgiFastStream:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe is noise
    topology = settings.topology
    broker = NatsBroker(settings.nats_url, max_reconnect_attempts=-1, logger=log)
    holder: dict[str, HealthPoller] = {}
    tasks: list[asyncio.Task[None]] = []

    @broker.subscriber(topology.health_refresh_subject, queue=QUEUE_GROUP, title="health.refresh")
    async def refresh(request: RefreshHealth) -> dict[str, Any]:
        return (await holder["poller"].refresh(request)).model_dump(mode="json")

    async def prepare() -> None:
        await broker.connect()
        js = broker.connection.jetstream()
        await ensure_streams(js, topology)
        registry_kv = await ensure_bucket(js, topology.registry_bucket_config())
        health_kv = await ensure_bucket(js, topology.health_bucket_config(settings.ttl_sec))
        client = httpx.AsyncClient(
            timeout=settings.probe_timeout_sec,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )
        holder["poller"] = HealthPoller(settings, client, health_kv, registry_kv)

    async def start_polling() -> None:
        js = broker.connection.jetstream()
        poller = holder["poller"]
        tasks.append(asyncio.create_task(follow_bucket(js, topology.health_bucket, poller.ledger)))
        # Read the published health first, so history and failure counts carry on.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(poller.ledger.loaded.wait(), LEDGER_LOAD_TIMEOUT_SEC)
        tasks.append(
            asyncio.create_task(follow_bucket(js, topology.registry_bucket, poller.registry))
        )
        tasks.append(asyncio.create_task(poller.run()))

    async def stop_polling() -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if "poller" in holder:
            await holder["poller"].stop()
            await holder["poller"].client.aclose()

    return AsgiFastStream(
        broker,
        asgi_routes=ops_routes(broker),
        on_startup=[prepare],
        after_startup=[start_polling],
        on_shutdown=[stop_polling],
        logger=log,
    )
