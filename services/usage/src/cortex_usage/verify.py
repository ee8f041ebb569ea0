"""`cortex-usage verify`: the live records and rollups against a replay of the usage stream
(docs/audit.md).

The consistent cut, while the recorder and the rollup keep writing:

1. `floor`: the recorder's ack floor; every event up to it is committed (acknowledged after its
   transaction), so it is in any snapshot taken afterwards.
2. One REPEATABLE READ transaction: its first read takes the snapshot of every live table.
3. The stream's end now (`target`); the replay stores every event up to it into temporary
   copies of the tables, through the recorder's own code (`UsageStore`).
4. Replayed records after the floor that the live table lacks are left out (not recorded yet:
   not drift); the rest must match the live records row by row.
5. The rollups are summarised again from the replayed records with the rollup's own query
   (`record_summaries`) and compared for every hour and day the live rollup has settled (no
   mark in `usage_dirty_hours` / `usage_dirty_days` in the snapshot): a marked one is still read
   from its records by queries, so its rollup rows are not an answer yet.
"""

import time
from typing import Any

from nats.js import JetStreamContext
from sqlalchemy import MetaData, Table, insert, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from cortex_contracts.messages.verify import ProjectionReport
from cortex_runtime.drift import Comparison, compare, create_scratch
from cortex_runtime.reader import read_through
from cortex_runtime.verification import (
    Check,
    Progress,
    applied_floor,
    run_command,
    stream_last_seq,
)
from cortex_usage.recorder import UnreadableEvent, UsageStore, read_row
from cortex_usage.settings import Settings
from cortex_usage.summaries import record_summaries, utc_trunc
from cortex_usage.tables import (
    SUMMARY_COLUMNS,
    RollupTables,
    dimensions_of,
    rollup_tables,
    usage_tables,
)

SUFFIX = "_verify"
INSERT_ROWS = 5000  # replayed rows stored per statement
SETTLED_HOURS = "hour NOT IN (SELECT hour FROM usage_dirty_hours)"
SETTLED_DAYS = (
    "day NOT IN (SELECT day FROM usage_dirty_days)"
    " AND day NOT IN (SELECT date_trunc('day', hour, 'UTC') FROM usage_dirty_hours)"
)
# A histogram's bytes are (bucket int16, count int32) pairs in no particular order (the rollup
# concatenates them): compared, and shown, as "bucket:count" per bucket, in bucket order.
HISTOGRAM_TEXT = """
CREATE FUNCTION pg_temp.cortex_histogram(h bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT string_agg(bucket || ':' || total, ' ' ORDER BY bucket) FROM (
    SELECT CASE WHEN raw >= 32768 THEN raw - 65536 ELSE raw END AS bucket, sum(n) AS total
    FROM (
      SELECT (get_byte(h, i) << 8) + get_byte(h, i + 1) AS raw,
             (get_byte(h, i + 2)::bigint << 24) + (get_byte(h, i + 3) << 16)
             + (get_byte(h, i + 4) << 8) + get_byte(h, i + 5) AS n
      FROM generate_series(0, length(h) - 6, 6) AS i
    ) AS entries GROUP BY 1
  ) AS buckets
$$
"""


async def verify(
    settings: Settings, js: JetStreamContext, progress: Progress, max_differences: int
) -> ProjectionReport:
    started = time.perf_counter()
    topology = settings.topology
    floor = await applied_floor(js, topology.usage_stream, topology.usage_consumer)
    engine = create_async_engine(
        settings.database_url, isolation_level="REPEATABLE READ", poolclass=NullPool
    )
    meta = MetaData()
    records, position = usage_tables(meta, SUFFIX)
    rollups = rollup_tables(meta, SUFFIX)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1 FROM usage_position"))  # the snapshot
            target = await stream_last_seq(js, topology.usage_stream)
            await create_scratch(
                conn, [records, position, *_summaries(rollups), rollups.dirty_hours]
            )
            await conn.exec_driver_sql(HISTOGRAM_TEXT)
            store = UsageStore(records, position, rollups.dirty_hours, topology.usage_consumer)
            events = 0
            rows: list[dict[str, Any]] = []
            async for batch in read_through(
                js, topology.usage_stream, topology.usage_all_subjects, target
            ):
                for event in batch:
                    try:
                        if len(event.data) > settings.max_event_bytes:
                            raise UnreadableEvent("oversized")  # parked by the live recorder
                        rows.append(read_row(event.data, event.seq))
                    except UnreadableEvent:
                        continue
                if len(rows) >= INSERT_ROWS:
                    await store.insert(conn, rows)
                    rows = []
                events += len(batch)
                await progress(batch[-1].seq, target)
            await store.insert(conn, rows)
            await progress(target, target)
            pending = await _leave_out_unrecorded(conn, records, floor)
            for summary in _summaries(rollups):
                await _summarise(conn, records, summary)
            checks = [
                await compare(conn, comparison, max_differences) for comparison in _comparisons()
            ]
            await conn.rollback()  # the scratch tables go with it
    finally:
        await engine.dispose()
    return ProjectionReport(
        projection="usage",
        stream=topology.usage_stream,
        through_seq=target,
        applied_floor=floor,
        events=events,
        pending_events=pending,
        seconds=time.perf_counter() - started,
        tables=[check for check, _ in checks],
        differences=[d for _, found in checks for d in found][:max_differences],
    )


def _summaries(rollups: RollupTables) -> list[Table]:
    return [rollups.hourly, rollups.hourly_totals, rollups.daily]


async def _leave_out_unrecorded(conn: AsyncConnection, records: Table, floor: int) -> int:
    """Replayed records the recorder had not stored yet at the snapshot (after its floor)."""
    left_out = await conn.execute(
        text(
            f"DELETE FROM {records.name} AS r WHERE r.stream_seq > :floor"
            " AND NOT EXISTS (SELECT 1 FROM usage_records AS l WHERE l.event_id = r.event_id)"
        ),
        {"floor": floor},
    )
    return int(left_out.rowcount)


async def _summarise(conn: AsyncConnection, records: Table, summary: Table) -> None:
    """The rollup's own summary of the replayed records, for every hour (or day)."""
    unit = "hour" if "hour" in summary.c else "day"
    dimensions = dimensions_of(summary)
    keys = [utc_trunc(unit, records.c.occurred_at), *(records.c[name] for name in dimensions)]
    await conn.execute(
        insert(summary).from_select(
            [unit, *dimensions, *SUMMARY_COLUMNS], record_summaries(records, keys, [])
        )
    )


def _comparisons() -> list[Comparison]:
    live = MetaData()
    records, _ = usage_tables(live)
    rollups = rollup_tables(live)
    histograms = {
        name: "pg_temp.cortex_histogram({})" for name in SUMMARY_COLUMNS if "hist" in name
    }
    found = [
        Comparison(
            live=records.name,
            replayed=f"{records.name}{SUFFIX}",
            key=("event_id",),
            columns=tuple(c.name for c in records.columns if c.name != "event_id"),
        )
    ]
    for summary in _summaries(rollups):
        unit = "hour" if "hour" in summary.c else "day"
        dimensions = (unit, *dimensions_of(summary))
        found.append(
            Comparison(
                live=summary.name,
                replayed=f"{summary.name}{SUFFIX}",
                key=dimensions,
                columns=SUMMARY_COLUMNS,
                where=SETTLED_HOURS if unit == "hour" else SETTLED_DAYS,
                shown_as=histograms,
                note=f"{unit}s still marked for the rollup left out",
            )
        )
    return found


def checker(settings: Settings) -> Check:
    async def check(js: JetStreamContext, progress: Progress, shown: int) -> ProjectionReport:
        return await verify(settings, js, progress, shown)

    return check


def run(settings: Settings) -> None:
    """The console command: the report on stdout, exit status 1 on drift."""
    run_command(settings.nats_url, "usage", checker(settings))
