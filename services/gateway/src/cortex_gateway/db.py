"""The gateway's database engine: every wait on PostgreSQL is bounded.

A frozen server (stopped, overloaded, cut off by the network) would otherwise hold each request,
and the pooled connection it uses, until the server wakes up: psycopg has no client-side timeout
for queries, and a server-side `statement_timeout` does not run on a server that is stopped. So a
request waits at most `timeout_sec` for a pooled connection, for a new one, and for each answer;
then it fails with `OperationalError`, which errors.py answers with 503 and `Retry-After`.
"""

import functools
import math
from typing import Any

import psycopg
from psycopg.errors import _WaitTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


class BoundedConnection(psycopg.AsyncConnection[Any]):
    timeout_sec: float = 2.0  # set per engine by make_engine

    async def wait(self, gen: Any, *args: Any, **kwargs: Any) -> Any:
        """Every exchange with the server goes through here (psycopg's own hook)."""
        if args or kwargs.get("timeout") is not None:  # a caller's own timeout stands
            return await super().wait(gen, *args, **kwargs)
        kwargs["timeout"] = self.timeout_sec
        try:
            return await super().wait(gen, **kwargs)
        except _WaitTimeout:
            # Half an exchange is in flight: the connection cannot be used again. Closing it
            # here (not a cancel request, which would wait on the frozen server as well) lets
            # SQLAlchemy see a lost connection and drop it from the pool.
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"PostgreSQL did not answer within {self.timeout_sec:g} s"
            ) from None


def make_engine(database_url: str, pool_size: int, timeout_sec: float) -> AsyncEngine:
    class EngineConnection(BoundedConnection):
        pass

    EngineConnection.timeout_sec = timeout_sec
    # libpq's connect_timeout counts whole seconds, 2 at least.
    connect = functools.partial(
        EngineConnection.connect, connect_timeout=max(2, math.ceil(timeout_sec))
    )
    return create_async_engine(
        database_url,
        pool_size=pool_size,
        pool_pre_ping=True,
        pool_timeout=timeout_sec,
        connect_args={"async_creator_fn": connect},
    )
