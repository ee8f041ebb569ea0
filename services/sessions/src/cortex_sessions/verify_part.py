"""One part of `cortex-sessions verify` (verify.py): the replay of some partitions of the chat
stream into scratch tables, compared with the live rows of their sessions.

A session's events are all on its partition's subjects (`fold.session_key` takes no other), so
partitions replay independently: verify gives each worker process a share of them. A worker
reads the live tables in the snapshot the verify took (`SET TRANSACTION SNAPSHOT`), so every
part compares against the same cut. Its comparison covers the rows of its own sessions: the
live ones of its partitions (the verify hands them over with their positions) and every one
its replay wrote.
"""

import asyncio
from collections.abc import Callable, MutableSequence, Sequence
from dataclasses import dataclass
from uuid import UUID

from nats.js import JetStreamContext
from psycopg import AsyncConnection as PsycopgConnection
from sqlalchemy import Column, MetaData, Table, Uuid, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from cortex_contracts.messages.verify import Difference, TableCheck
from cortex_runtime.connection import connect
from cortex_runtime.drift import Comparison, compare, create_scratch
from cortex_runtime.reader import read_through
from cortex_sessions.bulk import copy_rows
from cortex_sessions.replay import Replay
from cortex_sessions.settings import Settings
from cortex_sessions.tables import chat_tables

SUFFIX = "_verify"
SCOPE = "verify_scope"  # the session ids a part compares (a temporary table)
# The live projection stores a missing JSON value as JSON null, the replay's COPY as SQL NULL:
# the same "no value" to every reader.
JSON_VALUE = "nullif({}, 'null'::jsonb)::text"


@dataclass(frozen=True)
class Part:
    partitions: tuple[int, ...] | None  # None: the whole stream, compared with whole tables
    floors: Sequence[int]  # per partition: the live consumer's ack floor
    positions: dict[UUID, int]  # the live position of each session of the part
    target: int  # the stream's end at the cut


@dataclass(frozen=True)
class PartResult:
    events: int
    pending: int  # after the cut's floor and not yet applied by the live projection
    tables: list[TableCheck]
    differences: list[Difference]


async def verify_part(
    conn: AsyncConnection,
    js: JetStreamContext,
    settings: Settings,
    part: Part,
    max_differences: int,
    read: Callable[[int], None],  # told how many events each batch held
) -> PartResult:
    """In `conn`'s transaction, which holds the cut's snapshot; the caller rolls it back."""
    topology = settings.topology
    scratch = chat_tables(MetaData(), SUFFIX)
    await create_scratch(conn, scratch)
    raw = (await conn.get_raw_connection()).driver_connection
    assert isinstance(raw, PsycopgConnection)
    replay = Replay(
        *scratch, max_event_bytes=settings.max_event_bytes, partitions=topology.chat_partitions
    )
    subjects = (
        [topology.chat_all_subjects]
        if part.partitions is None
        else [topology.chat_partition_subjects(n) for n in part.partitions]
    )
    pending = 0
    for filtered in subjects:
        async for batch in read_through(js, topology.chat_stream, filtered, part.target):
            for event in batch:
                key = replay.key(event.subject)
                if (
                    key is not None
                    and event.seq > part.positions.get(key.session_id, 0)
                    and event.seq > part.floors[topology.chat_partition(str(key.session_id))]
                ):
                    pending += 1  # not applied by the live projection yet: not drift
                    continue
                replay.apply(event.seq, event.subject, event.data)
            if replay.pending_rows >= settings.rebuild_batch:
                await replay.flush(raw, settle=False)
            read(len(batch))
    await replay.flush(raw)
    scoped = part.partitions is not None
    if scoped:
        scope = Table(SCOPE, MetaData(), Column("id", Uuid, primary_key=True))
        await create_scratch(conn, [scope])
        await copy_rows(raw, scope, ((i,) for i in part.positions.keys() | replay.state))
    checks = [
        await compare(conn, comparison, max_differences) for comparison in comparisons(scoped)
    ]
    return PartResult(
        events=replay.events,
        pending=pending,
        tables=[check for check, _ in checks],
        differences=[d for _, found in checks for d in found],
    )


def comparisons(scoped: bool) -> list[Comparison]:
    sessions, messages, tombstones = chat_tables(MetaData())
    return [
        Comparison(
            live=table.name,
            replayed=f"{table.name}{SUFFIX}",
            key=tuple(column.name for column in table.primary_key),
            columns=tuple(c.name for c in table.columns if not c.primary_key),
            where=f"{session_column} IN (SELECT id FROM {SCOPE})" if scoped else "",
            shown_as={c.name: JSON_VALUE for c in table.columns if isinstance(c.type, JSONB)},
        )
        for table, session_column in (
            (sessions, "id"),
            (messages, "session_id"),
            (tombstones, "session_id"),
        )
    ]


# A worker process's: the shared array of events read, a slot per part.
_progress: list[MutableSequence[int]] = []


def share_progress(read: MutableSequence[int]) -> None:
    """A worker process's initializer: shared memory is handed over when a process starts."""
    _progress[:] = [read]


def run_part(
    settings: Settings, snapshot: str, part: Part, max_differences: int, slot: int
) -> PartResult:
    """A worker process's part: its own NATS and PostgreSQL connections, the verify's snapshot."""

    def read(events: int) -> None:
        _progress[0][slot] += events  # only this part writes its slot

    async def run() -> PartResult:
        nats = await connect(settings.nats_url, "cortex-sessions-verify")
        engine = create_async_engine(
            settings.database_url, isolation_level="REPEATABLE READ", poolclass=NullPool
        )
        try:
            async with engine.connect() as conn:
                await conn.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
                result = await verify_part(
                    conn, nats.jetstream(), settings, part, max_differences, read
                )
                await conn.rollback()
                return result
        finally:
            await engine.dispose()
            await nats.close()

    return asyncio.run(run())
