"""Wiring: the FastStream app (NATS connection, lifecycle, ops routes), the query responders
and the projection consumer."""

import asyncio
import gc
import logging
from typing import Any

from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker
from sqlalchemy.ext.asyncio import create_async_engine

from cortex_contracts.messages.sessions import GetSession, ListSessions
from cortex_contracts.runtime.jetstream import ensure_streams
from cortex_contracts.runtime.ops import ops_routes
from cortex_sessions import consumer
from cortex_sessions.queries import READ_CONNECTION_OPTIONS, SessionQueries
from cortex_sessions.responders import Responder
from cortex_sessions.settings import Settings

log = logging.getLogger(__name__)
STOP_GRACE_SEC = 2.0


def create_app(settings: Settings) -> AsgiFastStream:
    topology = settings.topology
    broker = NatsBroker(settings.nats_url, max_reconnect_attempts=-1, logger=log)
    # Queries: reads only, so no transaction round trips; plans that walk the indexes.
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        isolation_level="AUTOCOMMIT",
        connect_args={"options": READ_CONNECTION_OPTIONS},
    )
    workers = settings.query_workers
    stopping = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    engines = [engine]
    responders: list[Responder[Any]] = []

    async def prepare() -> None:
        await broker.connect()
        js = broker.connection.jetstream()
        await ensure_streams(js, topology)
        queries = SessionQueries(engine, js, topology, settings.read_your_writes_timeout_sec)
        nats = broker.connection
        responders.extend(
            [
                Responder(
                    nats, topology.sessions_list_subject, ListSessions, queries.list, workers
                ),
                Responder(nats, topology.sessions_get_subject, GetSession, queries.get, workers),
            ]
        )
        for responder in responders:
            await responder.start()

    async def start_projection() -> None:
        # A pool of its own: waiting queries must never keep the projection from the database.
        projection_engine = create_async_engine(
            settings.database_url, pool_size=2, pool_pre_ping=True
        )
        engines.append(projection_engine)
        projection = consumer.ChatEventConsumer(
            projection_engine, broker.connection.jetstream(), settings
        )
        tasks.append(asyncio.create_task(consumer.run(projection, broker.connection, stopping)))
        # Everything loaded so far lives as long as the process: keep it out of the garbage
        # collector's full passes, which otherwise stall queries for tens of milliseconds.
        gc.collect()
        gc.freeze()

    async def close() -> None:
        for responder in responders:
            await responder.stop()
        stopping.set()  # the projection finishes the event in hand (else it is redelivered)
        if tasks:
            _, waiting = await asyncio.wait(tasks, timeout=STOP_GRACE_SEC)
            for task in waiting:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for each in engines:
            await each.dispose()

    return AsgiFastStream(
        broker,
        asgi_routes=ops_routes(broker, engine),
        on_startup=[prepare],
        after_startup=[start_projection],
        on_shutdown=[close],
        logger=log,
    )
