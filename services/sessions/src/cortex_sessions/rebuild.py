"""`cortex-sessions rebuild`: rebuild the tables from the chat stream and swap them in.

1. Fresh tables `chat_*_rebuild`, defined exactly like the live ones (`chat_tables`).
2. Every event of the stream, read with an ordered consumer, goes through the live projection's
   rules (`Replay`), with a progress bar; then the events that arrived meanwhile.
3. One transaction: lock the live tables against writes (EXCLUSIVE mode: queries keep reading
   them), replay the last events, drop the live tables and rename the fresh ones in their place.
   The live projection's writes that waited on the lock then go to the new tables; the events it
   had not applied yet are applied there once, the others are recognised by their positions.
"""

import asyncio
import logging
import sys
import time
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.errors import LockNotAvailable
from sqlalchemy import MetaData, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable
from tqdm import tqdm

from cortex_runtime.connection import connect
from cortex_runtime.jetstream import ensure_streams
from cortex_runtime.reader import StreamReader
from cortex_sessions.erasure import drop_erased
from cortex_sessions.fold import SessionRow
from cortex_sessions.replay import Replay
from cortex_sessions.settings import Settings
from cortex_sessions.tables import (
    chat_messages,
    chat_session_tombstones,
    chat_sessions,
    chat_tables,
)

log = logging.getLogger(__name__)

SUFFIX = "_rebuild"
REBUILD_LOCK_ID = 7_041_958_212  # pg advisory lock: one rebuild at a time
LIVE_TABLES = (chat_sessions, chat_messages, chat_session_tombstones)  # the order readers lock
SWAP_LOCK_TIMEOUT = "10s"
SWAP_ATTEMPTS = 5


@dataclass(frozen=True)
class RebuildReport:
    through_seq: int
    events: int
    rejected: int
    sessions: int
    messages: int
    seconds: float

    @property
    def events_per_sec(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


async def rebuild(settings: Settings, *, progress: bool = True) -> RebuildReport:
    started = time.perf_counter()
    topology = settings.topology
    client = await connect(settings.nats_url, "cortex-sessions-rebuild")
    try:
        js = client.jetstream()
        await ensure_streams(js, topology)
        async with await AsyncConnection.connect(_libpq_url(settings.database_url)) as conn:
            locked = await conn.execute("SELECT pg_try_advisory_lock(%s)", (REBUILD_LOCK_ID,))
            if not (await locked.fetchone() or (False,))[0]:
                raise SystemExit("cortex-sessions rebuild: another rebuild is running")
            await conn.commit()
            fresh = chat_tables(MetaData(), SUFFIX)
            await _create_fresh_tables(conn, fresh)
            replay = Replay(
                *fresh,
                max_event_bytes=settings.max_event_bytes,
                partitions=topology.chat_partitions,
            )
            reader = StreamReader(js, topology.chat_stream, topology.chat_all_subjects)
            await reader.start()
            try:
                with tqdm(
                    total=0,
                    unit=" events",
                    unit_scale=True,
                    disable=not progress,
                    file=sys.stderr,
                    mininterval=0.5,
                ) as bar:
                    await _catch_up(reader, replay, conn, settings, bar)
                    await conn.commit()
                    await _vacuum(conn, fresh)
                    await _swap_in(reader, replay, conn, settings, bar, fresh)
            finally:
                await reader.stop()
    finally:
        await client.close()
    rows = [s for s in replay.state.values() if isinstance(s, SessionRow)]
    return RebuildReport(
        through_seq=replay.applied_through,
        events=replay.events,
        rejected=replay.rejected,
        sessions=len(rows),
        messages=sum(row.message_count for row in rows),
        seconds=time.perf_counter() - started,
    )


async def _catch_up(
    reader: StreamReader,
    replay: Replay,
    conn: AsyncConnection[Any],
    settings: Settings,
    bar: tqdm,
) -> None:
    """Replay up to the end of the stream, again while much arrived in the meantime."""
    while True:
        target = await reader.last_seq()
        if replay.applied_through and target - replay.applied_through < settings.rebuild_batch:
            return
        await _follow(reader, replay, conn, target, settings.rebuild_batch, bar, commit=True)
        if not target or await reader.nothing_after(replay.applied_through):
            return


async def _swap_in(
    reader: StreamReader,
    replay: Replay,
    conn: AsyncConnection[Any],
    settings: Settings,
    bar: tqdm,
    fresh: tuple[Table, Table, Table],
) -> None:
    for attempt in range(1, SWAP_ATTEMPTS + 1):
        locked = False
        try:
            async with conn.transaction():
                await conn.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'")
                await conn.execute(_lock_statement("EXCLUSIVE"))
                locked = True
                # Nothing in the live tables changes from here until the commit.
                target = await reader.last_seq()
                await _follow(
                    reader, replay, conn, target, settings.rebuild_batch, bar, commit=False
                )
                await conn.execute(_lock_statement("ACCESS EXCLUSIVE"))
                await drop_erased(conn, fresh)
                await _replace_live_tables(conn, fresh)
            return
        except LockNotAvailable:
            if locked:  # the last events' rows were rolled back with the transaction
                raise SystemExit(
                    "cortex-sessions rebuild: swap interrupted; run it again"
                ) from None
            log.warning("live tables busy (attempt %s of %s)", attempt, SWAP_ATTEMPTS)
    raise SystemExit("cortex-sessions rebuild: could not lock the live tables; try again")


async def _replace_live_tables(conn: AsyncConnection[Any], fresh: tuple[Table, ...]) -> None:
    await conn.execute(
        sql.SQL("DROP TABLE {}").format(
            sql.SQL(", ").join(sql.Identifier(t.name) for t in LIVE_TABLES)
        )
    )
    for new, live in zip(fresh, LIVE_TABLES, strict=True):
        await conn.execute(
            sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                sql.Identifier(new.name), sql.Identifier(live.name)
            )
        )
    for live in LIVE_TABLES:
        await _rename_constraints_and_indexes(conn, live.name)


async def _vacuum(conn: AsyncConnection[Any], fresh: tuple[Table, ...]) -> None:
    """Statistics, so that queries get good plans at once; and every row marked visible, so
    that the first reads of the new tables do not do it (a write of every page: the first
    verify after a rebuild of a million events ran about 5 % slower, docs/audit.md)."""
    await conn.set_autocommit(True)  # VACUUM runs outside a transaction
    try:
        for table in fresh:
            await conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table.name)))
    finally:
        await conn.set_autocommit(False)


async def _follow(
    reader: StreamReader,
    replay: Replay,
    conn: AsyncConnection[Any],
    target: int,
    batch_rows: int,
    bar: tqdm,
    *,
    commit: bool,
) -> None:
    bar.total = max(bar.total or 0, target)
    bar.refresh()
    while replay.applied_through < target:
        # the target's message is gone (deleted from the stream, or its chat erased)
        if await reader.nothing_after(replay.applied_through):
            break
        before = replay.applied_through
        batch = await reader.take()
        if not batch:
            # `at_end` may be stale (the reader stalled under load after an earlier "nothing
            # pending"): only the stream itself, above, says that the rest is gone.
            continue
        for event in batch:
            replay.apply(event.seq, event.subject, event.data)
        bar.update(replay.applied_through - before)
        if replay.pending_rows >= batch_rows:
            await replay.flush(conn, settle=False)
            if commit:
                await conn.commit()
    await replay.flush(conn)
    if commit:
        await conn.commit()


def _lock_statement(mode: str) -> str:
    names = ", ".join(table.name for table in LIVE_TABLES)
    return f"LOCK TABLE {names} IN {mode} MODE"


async def _create_fresh_tables(conn: AsyncConnection[Any], fresh: tuple[Table, ...]) -> None:
    dialect = postgresql.dialect()
    async with conn.transaction():
        for table in reversed(fresh):
            await conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table.name))
            )
        for table in fresh:
            await conn.execute(str(CreateTable(table).compile(dialect=dialect)))
            for index in table.indexes:
                await conn.execute(str(CreateIndex(index).compile(dialect=dialect)))


# Constraints first: renaming a primary key or unique constraint renames its index too.
_RENAMES = (
    (
        "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND conname LIKE %s",
        "ALTER TABLE {table} RENAME CONSTRAINT {old} TO {new}",
    ),
    (
        "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexname LIKE %s",
        "ALTER INDEX {old} RENAME TO {new}",
    ),
)


async def _rename_constraints_and_indexes(conn: AsyncConnection[Any], table: str) -> None:
    """The fresh table's constraints and indexes take the names the live ones had."""
    for find, rename in _RENAMES:
        found = await conn.execute(find, (table, f"%{SUFFIX}%"))
        for (name,) in await found.fetchall():
            statement = sql.SQL(rename).format(
                table=sql.Identifier(table),
                old=sql.Identifier(name),
                new=sql.Identifier(name.replace(SUFFIX, "")),
            )
            await conn.execute(statement)


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def run(settings: Settings) -> None:
    """The console command: rebuild, then one line of figures."""
    report = asyncio.run(rebuild(settings, progress=True))
    print(
        f"cortex-sessions rebuild: {report.events} events through seq {report.through_seq} "
        f"({report.rejected} rejected) -> {report.sessions} sessions, {report.messages} messages "
        f"in {report.seconds:.1f}s ({report.events_per_sec:,.0f} events/s); tables swapped in"
    )
