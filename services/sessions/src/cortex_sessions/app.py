"""Wiring: FastStream broker (query responders), the projection consumer and the ops routes."""

import asyncio
import logging
from collections.abc import Awaitable

from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker, NatsMessage
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import create_async_engine

from cortex_contracts.messages import ErrorReply
from cortex_contracts.messages.sessions import GetSession, ListSessions
from cortex_contracts.runtime.jetstream import ensure_streams
from cortex_contracts.runtime.ops import ops_routes
from cortex_contracts.runtime.replies import ERROR_HEADER, send_reply
from cortex_sessions import consumer
from cortex_sessions.queries import SessionQueries
from cortex_sessions.settings import Settings

log = logging.getLogger(__name__)
QUEUE_GROUP = "sessions"
STOP_GRACE_SEC = 2.0


def create_app(settings: Settings) -> AsgiFastStream:
    topology = settings.topology
    broker = NatsBroker(settings.nats_url, max_reconnect_attempts=-1, logger=log)
    # Queries: no transaction round trips (reads only), and plans made for the actual user, so
    # a user with 10,000 chats gets the index scan, not the plan that suits users with three.
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        isolation_level="AUTOCOMMIT",
        connect_args={"options": "-c plan_cache_mode=force_custom_plan"},
    )
    stopping = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    engines = [engine]
    holder: dict[str, SessionQueries] = {}

    async def answer(message: NatsMessage, query: Awaitable[BaseModel]) -> None:
        # Sent by hand: a session with long messages may not fit in one NATS message.
        try:
            reply = await query
        except Exception:  # e.g. the database restarted: this connection is gone, retry
            log.exception("answering a sessions query failed")
            reply = ErrorReply(
                error="The sessions store is unavailable.", status=503, retry_after=1
            )
        headers = {ERROR_HEADER: str(reply.status)} if isinstance(reply, ErrorReply) else None
        if message.reply_to:
            data = reply.model_dump_json().encode()
            await send_reply(broker.connection, message.reply_to, data, headers)

    @broker.subscriber(
        topology.sessions_list_subject,
        queue=QUEUE_GROUP,
        title="sessions.list",
        no_reply=True,
        max_workers=settings.query_workers,
    )
    async def list_sessions(query: ListSessions, message: NatsMessage) -> None:
        await answer(message, holder["queries"].list(query))

    @broker.subscriber(
        topology.sessions_get_subject,
        queue=QUEUE_GROUP,
        title="sessions.get",
        no_reply=True,
        max_workers=settings.query_workers,
    )
    async def get_session(query: GetSession, message: NatsMessage) -> None:
        await answer(message, holder["queries"].get(query))

    async def prepare() -> None:
        await broker.connect()
        js = broker.connection.jetstream()
        await ensure_streams(js, topology)
        holder["queries"] = SessionQueries(
            engine, js, topology, settings.read_your_writes_timeout_sec
        )

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

    async def close() -> None:
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
