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

With several partitions, steps 4 and 5 are split over worker processes (`verify_workers`, one
per CPU by default), each with a share of the partitions and the snapshot of step 2
(verify_part.py): a replay is bound to one core, and the parts are independent.
"""

import asyncio
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar
from uuid import UUID

from nats.js import JetStreamContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from cortex_contracts.messages.verify import ProjectionReport, TableCheck
from cortex_contracts.topology import Topology
from cortex_runtime.verification import (
    PROGRESS_EVERY_SEC,
    Check,
    Progress,
    applied_floor,
    run_command,
    stream_last_seq,
)
from cortex_sessions.settings import Settings
from cortex_sessions.verify_part import Part, PartResult, run_part, share_progress, verify_part

Done = TypeVar("Done")


async def verify(
    settings: Settings, js: JetStreamContext, progress: Progress, max_differences: int
) -> ProjectionReport:
    started = time.perf_counter()
    topology = settings.topology
    floors = [
        await applied_floor(js, topology.chat_stream, consumer)
        for consumer in topology.sessions_partition_consumers
    ]
    shares = partition_shares(topology.chat_partitions, settings.verify_workers)
    engine = create_async_engine(
        settings.database_url, isolation_level="REPEATABLE READ", poolclass=NullPool
    )
    try:
        async with engine.connect() as conn:
            positions = await _live_positions(conn)  # the snapshot is taken here
            target = await stream_last_seq(js, topology.chat_stream)
            whole = Part(None, floors, positions, target)
            if len(shares) == 1:
                read = [0]

                def count(events: int) -> None:
                    read[0] += events

                alone = verify_part(conn, js, settings, whole, max_differences, count)
                parts = [await _reporting(asyncio.ensure_future(alone), read, target, progress)]
            else:
                parts = await _in_processes(
                    conn, settings, shares, whole, max_differences, progress
                )
            await progress(target, target)
            await conn.rollback()  # the scratch tables go with it
    finally:
        await engine.dispose()
    tables = _added_up([part.tables for part in parts])
    table_order = {check.table: n for n, check in enumerate(tables)}
    return ProjectionReport(
        projection="sessions",
        stream=topology.chat_stream,
        through_seq=target,
        applied_floor=min(floors),
        events=sum(part.events for part in parts),
        pending_events=sum(part.pending for part in parts),
        seconds=time.perf_counter() - started,
        tables=tables,
        differences=sorted(
            (d for part in parts for d in part.differences),
            key=lambda d: (table_order[d.table], d.key, d.column),
        )[:max_differences],
    )


def partition_shares(partitions: int, workers: int) -> list[tuple[int, ...]]:
    """The partitions dealt round to `workers` processes (0: one per CPU this process may run
    on), none left empty."""
    count = min(partitions, workers or _usable_cpus())
    return [tuple(range(first, partitions, count)) for first in range(count)]


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):  # Linux: the CPUs this process is allowed on
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


async def _in_processes(
    conn: AsyncConnection,
    settings: Settings,
    shares: list[tuple[int, ...]],
    whole: Part,
    max_differences: int,
    progress: Progress,
) -> list[PartResult]:
    """Each share replayed and compared by a worker process in the snapshot of `conn`, which
    stays open (so the snapshot stays importable) until every part is done."""
    snapshot = (await conn.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
    topology = settings.topology
    spawn = multiprocessing.get_context("spawn")  # no copy of this process's threads and loops
    read = spawn.RawArray("q", len(shares))  # events read, one slot per part
    with ProcessPoolExecutor(
        len(shares), mp_context=spawn, initializer=share_progress, initargs=(read,)
    ) as pool:
        loop = asyncio.get_running_loop()
        running = [
            loop.run_in_executor(
                pool,
                run_part,
                settings,
                snapshot,
                _share(topology, whole, share),
                max_differences,
                slot,
            )
            for slot, share in enumerate(shares)
        ]
        return await _reporting(asyncio.gather(*running), read, whole.target, progress)


async def _reporting(
    parts: "asyncio.Future[Done]", read: Sequence[int], target: int, progress: Progress
) -> Done:
    """What the parts return, with the events they read so far reported meanwhile."""
    while not parts.done():
        await asyncio.wait([parts], timeout=PROGRESS_EVERY_SEC)
        await progress(min(sum(read), target), target)
    return await parts


def _share(topology: Topology, whole: Part, share: tuple[int, ...]) -> Part:
    mine = set(share)
    positions = {
        session_id: seq
        for session_id, seq in whole.positions.items()
        if topology.chat_partition(str(session_id)) in mine
    }
    return Part(share, whole.floors, positions, whole.target)


def _added_up(parts: list[list[TableCheck]]) -> list[TableCheck]:
    """Each table's counts over all parts (every part checks the same tables, in order)."""
    return [
        TableCheck(
            table=checks[0].table,
            live_rows=sum(c.live_rows for c in checks),
            replayed_rows=sum(c.replayed_rows for c in checks),
            differences=sum(c.differences for c in checks),
            note=checks[0].note,
        )
        for checks in zip(*parts, strict=True)
    ]


async def _live_positions(conn: AsyncConnection) -> dict[UUID, int]:
    """Each session's position in the live projection (a deleted one's at its tombstone)."""
    rows = await conn.execute(
        text(
            "SELECT id, last_seq FROM chat_sessions"
            " UNION ALL SELECT session_id, deleted_seq FROM chat_session_tombstones"
        )
    )
    return {session_id: seq for session_id, seq in rows}


def checker(settings: Settings) -> Check:
    async def check(js: JetStreamContext, progress: Progress, shown: int) -> ProjectionReport:
        return await verify(settings, js, progress, shown)

    return check


def run(settings: Settings) -> None:
    """The console command: the report on stdout, exit status 1 on drift."""
    run_command(settings.nats_url, "sessions", checker(settings))
