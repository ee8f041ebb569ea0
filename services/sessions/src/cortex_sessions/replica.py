"""Reads from an optional PostgreSQL read replica (CORTEX_SESSIONS_DATABASE_READ_URL).

A streaming replica (as CloudNativePG runs it) replays the primary's write-ahead log, so at any
moment it shows the primary as it was a little earlier: a prefix of its history. A query that
needs the caller's last write first waits, as without a replica, until the projection on the
primary has it (the consumers' ack floor); then the replica may answer once its replay position
reaches the primary's WAL position of that moment. If it does not within a short wait, the
primary answers: a lagging replica costs latency, never a stale read.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cortex_sessions.metrics import REPLICA_READS

# How long a query waits for the replica before asking the primary, by default
# (CORTEX_SESSIONS_REPLICA_LAG_WAIT_SEC): a healthy replica is a few milliseconds behind; one
# further behind is not worth a user's wait.
REPLICA_LAG_WAIT_SEC = 0.5
FIRST_POLL_SEC = 0.002
MAX_POLL_SEC = 0.05

# The server's WAL position in bytes: a replica's replayed position, a primary's written one
# (so a read URL that points at a primary, as in a test or a one-node deployment, is always
# caught up with itself).
WAL_POSITION = text(
    "SELECT pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
    "ELSE pg_current_wal_lsn() END, '0/0')::bigint"
)


async def wal_position(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(WAL_POSITION) or 0)


async def wait_until(
    reached: Callable[[], Awaitable[bool]],
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> bool:
    """Poll `reached` with a growing pause until it holds (True) or `timeout` passes (False)."""
    deadline = clock() + timeout
    pause = FIRST_POLL_SEC
    while not await reached():
        if clock() + pause > deadline:
            return False
        await sleep(pause)
        pause = min(MAX_POLL_SEC, pause * 2)
    return True


async def replica_reached(
    target: int,
    replica_position: Callable[[], Awaitable[int]],
    wait: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> bool:
    """The replica replayed up to `target` within `wait`."""

    async def reached() -> bool:
        return await replica_position() >= target

    return await wait_until(reached, wait, clock, sleep)


@dataclass
class ReadReplica:
    engine: AsyncEngine  # the replica's
    primary: AsyncEngine
    wait: float = REPLICA_LAG_WAIT_SEC

    async def engine_for(self, fresh: bool) -> AsyncEngine:
        """The replica, if `fresh` is not needed or it shows all the primary has committed now
        (within `wait`); else the primary."""
        if fresh:
            target = await wal_position(self.primary)
            if not await replica_reached(target, partial(wal_position, self.engine), self.wait):
                REPLICA_READS.labels("primary").inc()
                return self.primary
        REPLICA_READS.labels("replica").inc()
        return self.engine


async def read_engine(
    primary: AsyncEngine, replica: ReadReplica | None, min_seq: int
) -> AsyncEngine:
    """Where a list reads once the primary's projection has the caller's events up to
    `min_seq`: the replica if there is one and it shows that much, else the primary."""
    if replica is None:
        return primary
    return await replica.engine_for(fresh=bool(min_seq))
