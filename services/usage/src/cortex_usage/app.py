"""Wiring of the usage service (the consumer is added by the usage work)."""

import logging

from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker
from sqlalchemy.ext.asyncio import create_async_engine

from cortex_contracts.runtime.jetstream import ensure_streams
from cortex_contracts.runtime.ops import ops_routes
from cortex_usage.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> AsgiFastStream:
    broker = NatsBroker(settings.nats_url, max_reconnect_attempts=-1, logger=log)
    engine = create_async_engine(settings.database_url, pool_size=settings.db_pool_size)

    async def prepare() -> None:
        await broker.connect()
        await ensure_streams(broker.connection.jetstream(), settings.topology)

    async def close() -> None:
        await engine.dispose()

    return AsgiFastStream(
        broker,
        asgi_routes=ops_routes(broker, engine),
        on_startup=[prepare],
        on_shutdown=[close],
        logger=log,
    )
