"""`cortex-sessions verify`: the live tables against a replay of the chat stream (docs/audit.md).

The consistent cut, while the projection keeps writing:

1. `floor`: per partition, its consumer's ack floor. Every event of the partition up to it is
   committed (the projection acknowledges after its transaction), so it is in any snapshot
   taken afterwards.
2. One REPEATABLE READ transaction: its first read takes the snapshot of the live tables, and
   with it each session's position (`chat_sessions.last_seq`, a tombstone's `deleted_seq`).
3. The stream's end now (`target`): no later event can be in the snapshot.
4. The replay, through the live projection's own rules (`Replay`) into temporary copies of the
   tables, applies each session's events up to `max(its live position, floor)` and leaves out
   the later ones (the projection had not applied them yet: not drift). An event up to the floor
   that the live tables lack is drift.
5. The copies and the live tables are compared row by row; the transaction is rolled back.
"""

import time
from uuid import UUID

from nats.js import JetStreamContext
from psycopg import AsyncConnection as PsycopgConnection
from sqlalchemy import MetaData, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from cortex_contracts.messages.verify import ProjectionReport
from cortex_contracts.topology import Topology
from cortex_runtime.drift import Comparison, compare, create_scratch
from cortex_runtime.reader import read_through
from cortex_runtime.verification import (
    Check,
    Progress,
    applied_floor,
    run_command,
    stream_last_seq,
)
from cortex_sessions.fold import session_key
from cortex_sessions.replay import Replay
from cortex_sessions.settings import Settings
from cortex_sessions.tables import chat_tables

SUFFIX = "_verify"
# The live projection stores a missing JSON value as JSON null, the replay's COPY as SQL NULL:
# the same "no value" to every reader.
JSON_VALUE = "nullif({}, 'null'::jsonb)::text"


async def verify(
    settings: Settings, js: JetStreamContext, progress: Progress, max_differences: int
) -> ProjectionReport:
    started = time.perf_counter()
    topology = settings.topology
    floors = [
        await applied_floor(js, topology.chat_stream, consumer)
        for consumer in topology.sessions_partition_consumers
    ]
    engine = create_async_engine(
        settings.database_url, isolation_level="REPEATABLE READ", poolclass=NullPool
    )
    try:
        async with engine.connect() as conn:
            positions = await _live_positions(conn)  # the snapshot is taken here
            target = await stream_last_seq(js, topology.chat_stream)
            scratch = chat_tables(MetaData(), SUFFIX)
            await create_scratch(conn, scratch)
            raw = (await conn.get_raw_connection()).driver_connection
            assert isinstance(raw, PsycopgConnection)
            replay = Replay(
                *scratch, max_event_bytes=settings.max_event_bytes, partitioned=topology.partitioned
            )
            pending = 0
            async for batch in read_through(
                js, topology.chat_stream, topology.chat_all_subjects, target
            ):
                for event in batch:
                    key = session_key(event.subject, partitioned=topology.partitioned)
                    if (
                        key is not None
                        and event.seq > floors[_partition(topology, event.subject)]
                        and event.seq > positions.get(key.session_id, 0)
                    ):
                        pending += 1  # not applied by the live projection yet
                        continue
                    replay.apply(event.seq, event.subject, event.data)
                if replay.pending_rows >= settings.rebuild_batch:
                    await replay.flush(raw)
                await progress(batch[-1].seq, target)
            await replay.flush(raw)
            await progress(target, target)
            checks = [
                await compare(conn, comparison, max_differences) for comparison in _comparisons()
            ]
            await conn.rollback()  # the scratch tables go with it
    finally:
        await engine.dispose()
    return ProjectionReport(
        projection="sessions",
        stream=topology.chat_stream,
        through_seq=target,
        applied_floor=min(floors),
        events=replay.events,
        pending_events=pending,
        seconds=time.perf_counter() - started,
        tables=[check for check, _ in checks],
        differences=[d for _, found in checks for d in found][:max_differences],
    )


async def _live_positions(conn: AsyncConnection) -> dict[UUID, int]:
    """Each session's position in the live projection (a deleted one's at its tombstone)."""
    rows = await conn.execute(
        text(
            "SELECT id, last_seq FROM chat_sessions"
            " UNION ALL SELECT session_id, deleted_seq FROM chat_session_tombstones"
        )
    )
    return {session_id: seq for session_id, seq in rows.tuples()}


def _comparisons() -> list[Comparison]:
    sessions, messages, tombstones = chat_tables(MetaData())
    return [
        Comparison(
            live=table.name,
            replayed=f"{table.name}{SUFFIX}",
            key=tuple(column.name for column in table.primary_key),
            columns=tuple(c.name for c in table.columns if not c.primary_key),
            shown_as={c.name: JSON_VALUE for c in table.columns if isinstance(c.type, JSONB)},
        )
        for table in (sessions, messages, tombstones)
    ]


def checker(settings: Settings) -> Check:
    async def check(js: JetStreamContext, progress: Progress, shown: int) -> ProjectionReport:
        return await verify(settings, js, progress, shown)

    return check


def run(settings: Settings) -> None:
    """The console command: the report on stdout, exit status 1 on drift."""
    run_command(settings.nats_url, "sessions", checker(settings))


def _partition(topology: Topology, subject: str) -> int:
    """The partition whose consumer applies `subject` (of a session: `session_key`)."""
    if not topology.partitioned:
        return 0
    return topology.chat_partition(topology.chat_session_of(subject))
