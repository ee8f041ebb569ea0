"""The sessions service: what it answers and consumes, and how its parts are wired at start.

Queries (list and get) are answered from PostgreSQL; the projection applies chat events to it.
"""

import gc
import logging
from operator import attrgetter
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import create_async_engine

from cortex_contracts.events.chat import AnyChatEvent
from cortex_contracts.messages.sessions import GetSession, ListSessions, SessionPage, SessionView
from cortex_runtime.ops import database_check
from cortex_runtime.responder import Endpoint
from cortex_runtime.service import Consumes, Context, Service
from cortex_runtime.verification import answering, every, verify_endpoint
from cortex_sessions.consumer import ChatEventConsumer, durable_consumer
from cortex_sessions.queries import READ_CONNECTION_OPTIONS, SessionQueries
from cortex_sessions.settings import Settings
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
VERIFY = verify_endpoint("sessions")
PROJECTION = Consumes(
    title="chat events",
    subject=lambda topology: topology.chat_subject("{user_id}", "{session_id}"),
    durable=attrgetter("sessions_consumer"),
    event=AnyChatEvent,
    description="One subject per chat session, in the chat stream; published by the gateway "
    "with Nats-Expected-Last-Subject-Sequence = previous_seq.",
)


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
    queries = SessionQueries(engine, ctx.js, ctx.topology, settings.read_your_writes_timeout_sec)
    ctx.answer(LIST, queries.list, workers=settings.query_workers)
    ctx.answer(GET, queries.get, workers=settings.query_workers)

    # A pool of its own: waiting queries must never keep the projection from the database.
    projection_engine = create_async_engine(settings.database_url, pool_size=2, pool_pre_ping=True)
    ctx.on_stop(projection_engine.dispose)
    consumer = durable_consumer(settings)
    projection = ChatEventConsumer(
        projection_engine, ctx.js, settings, ctx.parking(consumer, "chat event")
    )
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
    # On stop the projection finishes the batch in hand (else it is redelivered).
    ctx.consume(consumer, projection.handle, wake_after=projection.wake_after)
    # Everything loaded so far lives as long as the process: keep it out of the garbage
    # collector's full passes, which otherwise stall queries for tens of milliseconds.
    gc.collect()
    gc.freeze()


def _migrate(settings: Settings) -> None:
    from cortex_sessions.migrate import migrate

    migrate(settings.database_url)


def _rebuild(settings: Settings) -> None:
    from cortex_sessions.rebuild import run

    run(settings)


def _verify(settings: Settings) -> None:
    from cortex_sessions.verify import run

    run(settings)


service = Service(
    name="sessions",
    settings=Settings,
    start=start,
    answers=(LIST, GET, VERIFY),
    consumes=(PROJECTION,),
    commands={"migrate": _migrate, "rebuild": _rebuild, "verify": _verify},
)
