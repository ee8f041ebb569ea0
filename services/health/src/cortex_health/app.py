"""Wiring of the health service (the poller is added by the health work)."""

import logging

from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker

from cortex_contracts.runtime.jetstream import ensure_streams
from cortex_contracts.runtime.ops import ops_routes
from cortex_health.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> AsgiFastStream:
    broker = NatsBroker(settings.nats_url, max_reconnect_attempts=-1, logger=log)

    async def prepare() -> None:
        await broker.connect()
        await ensure_streams(broker.connection.jetstream(), settings.topology)

    return AsgiFastStream(broker, asgi_routes=ops_routes(broker), on_startup=[prepare], logger=log)
