"""`cortex-usage rebuild`: replay the usage stream into fresh tables and swap them in.

The live service may keep running. The replay fills `usage_records_rebuild` while the live
recorder goes on writing `usage_records`; then, holding an exclusive lock on the live tables (the
recorder waits), the replay catches up with the stream's end and the fresh tables take the live
names. Every event the live tables held was published before the lock, so the replay has it too.
"""

import logging
import sys
from dataclasses import dataclass, field

from nats.js import JetStreamContext
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from tqdm import tqdm

from cortex_runtime.connection import connect
from cortex_runtime.jetstream import ensure_streams
from cortex_runtime.reader import StreamReader
from cortex_usage.recorder import UnreadableEvent, UsageStore, read_row
from cortex_usage.settings import Settings
from cortex_usage.tables import rollup_tables, usage_tables

log = logging.getLogger(__name__)

SUFFIX = "_rebuild"
TAKE_TIMEOUT_SEC = 1.0
SWAP_LOCK_TIMEOUT = "30s"
LIVE_TABLES = (
    "usage_records", "usage_position",
    "usage_hourly", "usage_hourly_totals", "usage_daily", "usage_dirty_hours", "usage_dirty_days",
)  # fmt: skip


@dataclass
class Replay:
    """Reads the usage stream from its start and writes what it reads into the fresh tables."""

    js: JetStreamContext
    engine: AsyncEngine
    settings: Settings
    store: UsageStore
    last_seq: int = 0
    events: int = 0
    unreadable: int = 0
    progress: tqdm | None = field(default=None, repr=False)

    async def open(self) -> None:
        topology = self.settings.topology
        self.reader = StreamReader(self.js, topology.usage_stream, topology.usage_all_subjects)
        await self.reader.start()

    async def close(self) -> None:
        await self.reader.stop()

    async def until(self, target_seq: int, conn: AsyncConnection | None = None) -> None:
        """Store every event up to `target_seq` (in `conn`'s transaction when given)."""
        while self.last_seq < target_seq:
            batch = await self.reader.take(TAKE_TIMEOUT_SEC)
            if not batch:
                # Not `reader.at_end`, which may be stale when the reader stalled under load:
                # the stream says whether the rest of the range was deleted.
                if await self.reader.nothing_after(self.last_seq):
                    return
                continue
            rows = []
            for event in batch:
                seq, data = event.seq, event.data
                self.last_seq = max(self.last_seq, seq)
                try:
                    if len(data) > self.settings.max_event_bytes:  # parked by the live recorder
                        raise UnreadableEvent("oversized")
                    rows.append(read_row(data, seq))
                except UnreadableEvent:
                    self.unreadable += 1  # the live recorder dead-lettered it already
            if conn is not None:
                await self.store.insert(conn, rows)
            else:
                async with self.engine.begin() as own:
                    await self.store.insert(own, rows)
            self.events += len(batch)
            if self.progress is not None:
                self.progress.update(len(batch))


async def _stream_last_seq(js: JetStreamContext, settings: Settings) -> int:
    info = await js.stream_info(settings.topology.usage_stream)
    return int(info.state.last_seq)


async def _create_fresh_tables(engine: AsyncEngine, meta: MetaData) -> None:
    async with engine.begin() as conn:
        for table in reversed(meta.sorted_tables):  # leftovers of an interrupted rebuild
            await conn.execute(text(f'DROP TABLE IF EXISTS "{table.name}"'))
        await conn.run_sync(meta.create_all)


def _live_name(fresh: str) -> str:
    return fresh.replace(SUFFIX, "")


async def _swap_in(conn: AsyncConnection, meta: MetaData) -> None:
    """The live tables are dropped; the fresh ones, their indexes and keys take their names."""
    for live in LIVE_TABLES:
        await conn.execute(text(f'DROP TABLE "{live}"'))
    for table in meta.sorted_tables:
        await conn.execute(text(f'ALTER TABLE "{table.name}" RENAME TO "{_live_name(table.name)}"'))
        names = [table.primary_key.name, *(index.name for index in table.indexes)]
        for index in (str(name) for name in names if name):
            await conn.execute(text(f'ALTER INDEX "{index}" RENAME TO "{_live_name(index)}"'))


async def rebuild(settings: Settings) -> None:
    topology = settings.topology
    engine = create_async_engine(settings.database_url)
    nc = await connect(settings.nats_url, "cortex-usage-rebuild")
    try:
        js = nc.jetstream()
        await ensure_streams(js, topology)
        meta = MetaData()
        records, position = usage_tables(meta, SUFFIX)
        marks = rollup_tables(meta, SUFFIX).dirty_hours  # the live service rolls them up
        await _create_fresh_tables(engine, meta)
        target = await _stream_last_seq(js, settings)
        fresh = UsageStore(records, position, marks, topology.usage_consumer)
        replay = Replay(js, engine, settings, fresh)
        await replay.open()
        try:
            with tqdm(
                total=target, unit="event", file=sys.stderr, disable=not sys.stderr.isatty()
            ) as replay.progress:
                await replay.until(target)
            async with engine.begin() as conn:
                await conn.execute(text(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'"))
                await conn.execute(
                    text(f"LOCK TABLE {', '.join(LIVE_TABLES)} IN ACCESS EXCLUSIVE MODE")
                )
                await replay.until(await _stream_last_seq(js, settings), conn)
                await _swap_in(conn, meta)
        finally:
            await replay.close()
        print(
            f"cortex-usage rebuild: replayed {replay.events} events up to stream sequence "
            f"{replay.last_seq}; {replay.unreadable} unreadable events skipped"
        )
    finally:
        await nc.close()
        await engine.dispose()
