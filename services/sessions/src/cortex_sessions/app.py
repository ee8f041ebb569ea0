"""Wiring: FastStream broker (projection consumer, query responders) and the ops HTTP routes."""

import asyncio
import logging
from typing import Any

from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker
from sqlalchemy.ext.asyncio import create_async_engine

from cortex_contracts.messages.sessions import GetSession, ListSessions
from cortex_contracts.runtime.jetstream import ensure_streams
from cortex_contracts.runtime.ops import ops_routes
from cortex_sessions import consumer
from cortex_sessions.queries import SessionQueries
from cortex_sessions.settings import Settings

log = logging.getLogger(__name__)
QUEUE_GROUP = "sessions"


def create_app(settings: Settings) -> AsgiFastStream:
    topology = settings.topology
    broker = NatsBroker(settings.nats_url, max_reconnect_attempts=-1, logger=log)
    engine = create_async_engine(
        settings.database_url, pool_size=settings.db_pool_size, pool_pre_ping=True
    )
    projection = consumer.ChatEventConsumer(engine, broker, settings)
    stopping = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    holder: dict[str, SessionQueries] = {}

    @broker.subscriber(topology.sessions_list_subject, queue=QUEUE_GROUP, title="sessions.list")
    async def list_sessions(query: ListSessions) -> dict[str, Any]:
        return (await holder["queries"].list(query)).model_dump(mode="json")

    @broker.subscriber(topology.sessions_get_subject, queue=QUEUE_GROUP, title="sessions.get")
    async def get_session(query: GetSession) -> dict[str, Any]:
        return (await holder["queries"].get(query)).model_dump(mode="json")

    async def prepare() -> None:
        await broker.connect()
        js = broker.connection.jetstream()
        await ensure_streams(js, topology)
        holder["queries"] = SessionQueries(
            engine, js, topology, settings.read_your_writes_timeout_sec
        )

    async def start_projection() -> None:
        js = broker.connection.jetstream()
        tasks.append(asyncio.create_task(consumer.run(projection, js, stopping)))

    async def close() -> None:
        stopping.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await engine.dispose()

    return AsgiFastStream(
        broker,
        asgi_routes=ops_routes(broker, engine),
        on_startup=[prepare],
        after_startup=[start_projection],
        on_shutdown=[close],
        logger=log,
    )
