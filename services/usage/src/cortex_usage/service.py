"""The usage service: records completion events (a durable consumer), rolls them up, answers
usage queries."""

from operator import attrgetter

from sqlalchemy.ext.asyncio import create_async_engine

from cortex_contracts.events.usage import CompletionRecorded
from cortex_contracts.messages import ErrorReply
from cortex_contracts.messages.usage import UsageGroups, UsagePage, UsageQuery
from cortex_runtime.ops import database_check
from cortex_runtime.responder import Endpoint
from cortex_runtime.service import Consumes, Context, Service
from cortex_runtime.verification import answering, every, verify_endpoint
from cortex_usage import rollup
from cortex_usage.consumer import UsageConsumer, durable_consumer
from cortex_usage.queries import UsageQueries
from cortex_usage.settings import Settings
from cortex_usage.tables import rollups, usage_records
from cortex_usage.verify import checker

QUERY = Endpoint(
    title="usage.query",
    subject=attrgetter("usage_query_subject"),
    request=UsageQuery,
    replies=(UsagePage, UsageGroups),
    description="Usage records (no group_by) or aggregates; a bad cursor is a 422.",
)
QUERY_WORKERS = 4  # each may use work_mem (64 MB) several times over
VERIFY = verify_endpoint("usage")
RECORDER = Consumes(
    title="usage events",
    subject=lambda topology: topology.usage_subject("MODEL").replace("MODEL", "{model}"),
    durable=attrgetter("usage_consumer"),
    event=CompletionRecorded,
    description="One event per completion, in the usage stream, published by the gateway.",
)


async def start(ctx: Context[Settings]) -> None:
    settings = ctx.settings
    engine = create_async_engine(
        settings.database_url, pool_size=settings.db_pool_size, pool_pre_ping=True
    )
    ctx.on_stop(engine.dispose)
    ctx.ready_check("database", database_check(engine))
    queries = UsageQueries(engine, settings.query_timeout_sec, settings.query_work_mem)

    async def answer(query: UsageQuery) -> UsagePage | UsageGroups | ErrorReply:
        return await queries.answer(query)

    ctx.answer(QUERY, answer, workers=QUERY_WORKERS)
    consumer = durable_consumer(settings)
    recorder = UsageConsumer(engine, settings, ctx.parking(consumer, "usage event"))
    ctx.consume(consumer, recorder.handle_batch)
    roller = rollup.Rollup(
        engine, usage_records, rollups, settings.rollup_settle_sec, settings.query_work_mem
    )
    ctx.run(lambda: rollup.run(roller, settings.rollup_interval_sec, ctx.stopping))
    check = checker(settings)
    ctx.answer(VERIFY, answering(settings.nats_url, "usage", check), workers=1)
    if settings.verify_interval_sec:
        ctx.run(
            lambda: every(
                settings.verify_interval_sec,
                settings.nats_url,
                "usage",
                check,
                ctx.js,
                ctx.topology,
                ctx.stopping,
            ),
            cancel_at_stop=True,
        )


def _migrate(settings: Settings) -> None:
    from cortex_usage.migrate import migrate

    migrate(settings.database_url)


def _rebuild(settings: Settings) -> None:
    import asyncio

    from cortex_usage.rebuild import rebuild

    asyncio.run(rebuild(settings))


def _verify(settings: Settings) -> None:
    from cortex_usage.verify import run

    run(settings)


service = Service(
    name="usage",
    settings=Settings,
    start=start,
    answers=(QUERY, VERIFY),
    consumes=(RECORDER,),
    commands={"migrate": _migrate, "rebuild": _rebuild, "verify": _verify},
)
