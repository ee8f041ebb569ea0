"""Wiring: the recorder (durable consumer), the rollup, the query responder and the ops routes."""

import asyncio
import logging
from typing import Any

from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import create_async_engine

from cortex_contracts.messages import ErrorReply
from cortex_contracts.messages.usage import UsageQuery
from cortex_contracts.runtime.config import describe_validation_error
from cortex_contracts.runtime.jetstream import ensure_streams
from cortex_contracts.runtime.ops import ops_routes
from cortex_usage import consumer, rollup
from cortex_usage.queries import UsageQueries
from cortex_usage.settings import Settings
from cortex_usage.tables import rollups, usage_records

log = logging.getLogger(__name__)
QUEUE_GROUP = "usage"


def create_app(settings: Settings) -> AsgiFastStream:
    topology = settings.topology
    broker = NatsBroker(settings.nats_url, max_reconnect_attempts=-1, logger=log)
    engine = create_async_engine(
        settings.database_url, pool_size=settings.db_pool_size, pool_pre_ping=True
    )
    queries = UsageQueries(engine, settings.query_timeout_sec, settings.query_work_mem)
    stopping = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    @broker.subscriber(topology.usage_query_subject, queue=QUEUE_GROUP, title="usage.query")
    async def query_usage(body: dict[str, Any]) -> dict[str, Any]:
        # Validated here, not by FastStream, so that bad input is answered rather than dropped.
        try:
            query = UsageQuery.model_validate(body)
        except ValidationError as error:
            return ErrorReply(error=describe_validation_error(error), status=422).model_dump()
        return (await queries.answer(query)).model_dump(mode="json")

    async def prepare() -> None:
        await broker.connect()
        await ensure_streams(broker.connection.jetstream(), topology)

    async def start_recorder() -> None:
        recorder = consumer.UsageConsumer(engine, broker.connection, settings)
        tasks.append(asyncio.create_task(consumer.run(recorder, stopping)))
        roller = rollup.Rollup(
            engine, usage_records, rollups, settings.rollup_settle_sec, settings.query_work_mem
        )
        tasks.append(
            asyncio.create_task(rollup.run(roller, settings.rollup_interval_sec, stopping))
        )

    async def close() -> None:
        stopping.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await engine.dispose()

    return AsgiFastStream(
        broker,
        asgi_routes=ops_routes(broker, engine),
        on_startup=[prepare],
        after_startup=[start_recorder],
        on_shutdown=[close],
        logger=log,
    )
