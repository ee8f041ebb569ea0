"""The sessions service: what it answers and consumes, and how its parts are wired at start.

Queries (list and get) are answered from PostgreSQL; the projection applies chat events to it.
"""

import gc
import logging
from functools import partial
from operator import attrgetter
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cortex_contracts.events.chat import AnyChatEvent
from cortex_contracts.events.compare import AnyComparisonEvent
from cortex_contracts.events.erasure import ChatsErased
from cortex_contracts.messages.compare import ComparisonPage, ListComparisons, ListVotes, VotePage
from cortex_contracts.messages.retention import FindStaleChats, StaleChats
from cortex_contracts.messages.sessions import GetSession, ListSessions, SessionPage, SessionView
from cortex_runtime.consumer import consume
from cortex_runtime.ops import database_check
from cortex_runtime.responder import Endpoint
from cortex_runtime.service import Consumes, Context, Service
from cortex_runtime.verification import answering, every, verify_endpoint
from cortex_sessions.compare_projection import ComparisonProjection, comparisons_consumer
from cortex_sessions.compare_queries import ComparisonQueries
from cortex_sessions.consumer import stray_parker
from cortex_sessions.erasure import ErasureConsumer
from cortex_sessions.erasure import durable_consumer as erasure_consumer
from cortex_sessions.partitions import (
    PROJECTION_CONNECTIONS,
    projection_parking,
    projection_partitions,
    strays_consumer,
)
from cortex_sessions.queries import READ_CONNECTION_OPTIONS, SessionQueries
from cortex_sessions.replica import ReadReplica
from cortex_sessions.settings import Settings
from cortex_sessions.stale import stale_chats
from cortex_sessions.verify import checker

log = logging.getLogger(__name__)
Q = TypeVar("Q", bound=BaseModel)


def _query(name: str, request: type[Q], reply: type[BaseModel], about: str) -> Endpoint[Q]:
    """The `sessions.<name>` query, answered on the topology's `sessions_<name>_subject`."""
    return Endpoint(
        title=f"sessions.{name} query",
        subject=attrgetter(f"sessions_{name}_subject"),
        request=request,
        replies=(reply,),
        description=about,
    )


LIST = _query("list", ListSessions, SessionPage, "A user's chats, newest first, a page at a time.")
GET = _query(
    "get",
    GetSession,
    SessionView,
    "One chat with its messages (404 when the user has no such chat).",
)
STALE = _query(
    "stale",
    FindStaleChats,
    StaleChats,
    "The users' chats whose last activity is older than a cutoff (the retention run's question).",
)
COMPARISONS = _query(
    "comparisons_list",
    ListComparisons,
    ComparisonPage,
    "A user's comparisons (side-by-side compare), newest activity first.",
)
VOTES = _query(
    "comparisons_votes",
    ListVotes,
    VotePage,
    "The arena votes of a user's comparisons (of every user's: the admin's leaderboard).",
)
COMPARISON_PROJECTION = Consumes(
    title="comparison events",
    subject=lambda topology: topology.compare_subject("{user_id}", "{comparison_id}"),
    durable=attrgetter("comparisons_consumer"),
    event=AnyComparisonEvent,
    description="One subject per comparison, in the compare stream; published by the gateway "
    "with Nats-Expected-Last-Subject-Sequence = previous_seq.",
)
VERIFY = verify_endpoint("sessions")
PROJECTION = Consumes(
    title="chat events",
    subject=lambda topology: topology.chat_subject("{user_id}", "{session_id}"),
    durable=attrgetter("sessions_consumer"),
    event=AnyChatEvent,
    description="One subject per chat session, in the chat stream; published by the gateway "
    "with Nats-Expected-Last-Subject-Sequence = previous_seq.",
)
ERASURE = Consumes(
    title="chat erasures",
    subject=attrgetter("erasure_subject"),
    durable=attrgetter("erasure_consumer"),
    event=ChatsErased,
    description="A user deleted or chats past retention: the sessions service purges their chat "
    "subjects, dead-letter copies and chain heads, and deletes their rows.",
)


def read_replica(ctx: Context[Settings], primary: AsyncEngine) -> ReadReplica | None:
    """The read replica's engine, configured as the primary's query engine."""
    settings = ctx.settings
    if settings.database_read_url is None:
        return None
    engine = create_async_engine(
        settings.database_read_url,
        pool_size=settings.db_pool_size,
        isolation_level="AUTOCOMMIT",
        connect_args={"options": READ_CONNECTION_OPTIONS},
    )
    ctx.on_stop(engine.dispose)
    ctx.ready_check("read replica", database_check(engine))
    return ReadReplica(engine, primary, settings.replica_lag_wait_sec)


async def start(ctx: Context[Settings]) -> None:
    settings = ctx.settings
    # Queries: reads only, so no transaction round trips; plans that walk the indexes.
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        isolation_level="AUTOCOMMIT",
        connect_args={"options": READ_CONNECTION_OPTIONS},
    )
    ctx.on_stop(engine.dispose)
    ctx.ready_check("database", database_check(engine))
    replica = read_replica(ctx, engine)
    queries = SessionQueries(
        engine, ctx.js, ctx.topology, settings.read_your_writes_timeout_sec, replica
    )
    ctx.answer(LIST, queries.list, workers=settings.query_workers)
    ctx.answer(GET, queries.get, workers=settings.query_workers)
    ctx.answer(STALE, partial(stale_chats, engine), workers=1)

    compare = ComparisonQueries(
        engine, ctx.js, ctx.topology, settings.read_your_writes_timeout_sec, replica
    )
    ctx.answer(COMPARISONS, compare.list, workers=settings.query_workers)
    ctx.answer(VOTES, compare.votes, workers=settings.query_workers)

    # A pool of its own: waiting queries must never keep the projection from the database.
    projection_engine = create_async_engine(
        settings.database_url, pool_size=PROJECTION_CONNECTIONS, pool_pre_ping=True
    )
    ctx.on_stop(projection_engine.dispose)
    # One durable consumer per partition, pulled by the replica holding its lease; on stop the
    # projection finishes the batches in hand (else they are redelivered) and hands them over.
    parking = projection_parking(ctx)
    ctx.run(projection_partitions(ctx, projection_engine, parking).run)
    strays = strays_consumer(settings)
    if strays is not None:  # pulled by every replica: dead-lettering them needs no order
        park_strays = stray_parker(parking, ctx.topology.chat_partitions)
        ctx.run(lambda: consume(ctx.nats, strays, park_strays, ctx.stopping))
    # Erasures are not partitioned: every replica pulls from the one durable consumer.
    erasures = erasure_consumer(settings)
    eraser = ErasureConsumer(
        projection_engine, ctx.js, ctx.topology, ctx.parking(erasures, "erasure event")
    )
    ctx.consume(erasures, eraser.handle)
    compare_consumer = comparisons_consumer(settings)
    comparison_projection = ComparisonProjection(
        projection_engine, settings, ctx.parking(compare_consumer, "comparison event")
    )
    ctx.consume(compare_consumer, comparison_projection.handle)
    check = checker(settings)
    ctx.answer(VERIFY, answering(settings.nats_url, "sessions", check), workers=1)
    if settings.verify_interval_sec:
        ctx.run(
            lambda: every(
                settings.verify_interval_sec,
                settings.nats_url,
                "sessions",
                check,
                ctx.js,
                ctx.topology,
                ctx.stopping,
            ),
            cancel_at_stop=True,
        )
    # Everything loaded so far lives as long as the process: keep it out of the garbage
    # collector's full passes, which otherwise stall queries for tens of milliseconds.
    gc.collect()
    gc.freeze()


def _migrate(settings: Settings) -> None:
    from cortex_sessions.migrate import migrate

    migrate(settings.database_url)


def _rebuild(settings: Settings) -> None:
    import asyncio

    from cortex_sessions.compare_rebuild import rebuild_comparisons
    from cortex_sessions.rebuild import run

    run(settings)
    events, seconds = asyncio.run(rebuild_comparisons(settings))
    print(f"cortex-sessions rebuild: {events} comparison events replayed in {seconds:.1f}s")


def _verify(settings: Settings) -> None:
    from cortex_sessions.verify import run

    run(settings)


service = Service(
    name="sessions",
    settings=Settings,
    start=start,
    answers=(LIST, GET, STALE, COMPARISONS, VOTES, VERIFY),
    consumes=(PROJECTION, ERASURE, COMPARISON_PROJECTION),
    commands={"migrate": _migrate, "rebuild": _rebuild, "verify": _verify},
)
