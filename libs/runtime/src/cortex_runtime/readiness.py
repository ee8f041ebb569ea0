"""The readiness checks of every service's /readyz (the gateway's too).

/readyz answers within READY_TIMEOUT_SEC whatever the state of NATS or PostgreSQL: JetStream must
answer a round trip (a frozen server keeps its TCP connection, so "connected" alone says nothing),
and the database a `SELECT 1`.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.client import Client as NatsClient

READY_TIMEOUT_SEC = 1.0


class ReadinessCheck:
    """One check at a time, awaited at most READY_TIMEOUT_SEC: not done by then means not ready.

    A check still running is not cancelled but left to finish, and the next probes wait on it
    rather than start more: cancelling a query to a frozen PostgreSQL makes psycopg wait for
    its cancel request to that same server.
    """

    def __init__(self, check: Callable[[], Awaitable[object]]) -> None:
        self._check = check
        self._running: asyncio.Future[object] | None = None

    async def passes(self) -> bool:
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._check())
            self._running.add_done_callback(_retrieve)  # a late failure is no "never retrieved"
        running = self._running
        done, _ = await asyncio.wait({running}, timeout=READY_TIMEOUT_SEC)
        return bool(done) and not running.cancelled() and running.exception() is None


def _retrieve(task: asyncio.Future[object]) -> None:
    if not task.cancelled():
        task.exception()


def nats_check(connection: Callable[[], NatsClient]) -> ReadinessCheck:
    async def round_trip() -> None:
        nc = connection()
        if not nc.is_connected:
            raise ConnectionError("NATS is not connected")
        # A JetStream API round trip (not `flush`: nats-py breaks its connection on a PONG
        # that comes after a flush timed out). The timeout ends a check nobody awaits any more.
        await nc.jetstream(timeout=2).account_info()

    return ReadinessCheck(round_trip)


def database_check(engine: Any) -> ReadinessCheck:
    """`engine` is an SQLAlchemy AsyncEngine."""
    from sqlalchemy import text

    async def select_one() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return ReadinessCheck(select_one)


async def readiness(checks: dict[str, ReadinessCheck]) -> tuple[bool, dict[str, bool]]:
    """All checks at once: (ready, the result of each)."""
    results = await asyncio.gather(*(check.passes() for check in checks.values()))
    found = dict(zip(checks, results, strict=True))
    return all(results), found
