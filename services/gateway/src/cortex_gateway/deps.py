"""FastAPI dependencies: how a route gets the long-lived objects it uses.

- The lifespan (app.py) builds each object once and stores it on `app.state` under its own name.
- The package that owns the object's type declares an `Annotated[X, from_app_state("x")]` alias,
  and routes take it through that alias (full-stack-fastapi-template style): a
  route's signature lists what it uses, and nothing else reaches it.
- So no module of this level imports a feature: features import it, never the other way.
  Here: `settings`, `database`, `events`, `queries`. models/deps.py: `catalog`, `health`,
  `engines`. ops.py: `readiness`. completions/runtime.py: `completions`, which the completions
  hot path reads itself, once per request, with no dependency solving (completions/routes.py).
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cortex_contracts.topology import Topology
from cortex_gateway.settings import Settings
from cortex_runtime.query import QueryClient


@dataclass(frozen=True, slots=True)
class EventStore:
    """The event streams (the source of truth) and their subjects: what writing or reading
    events needs (chat commands, the audit trail, parked counts)."""

    js: JetStreamContext
    topology: Topology


def from_app_state(name: str) -> Any:
    """`Depends` on what the lifespan stored as `app.state.<name>`. The getter is async: a plain
    `def` dependency would be sent to the threadpool on every request."""

    async def stored(request: Request) -> Any:
        return getattr(request.app.state, name)

    stored.__name__ = f"get_{name}"
    return Depends(stored)


SettingsDep = Annotated[Settings, from_app_state("settings")]
# The connection pool: for reads outside the request's transaction (auth lookups, names).
Database = Annotated[AsyncEngine, from_app_state("database")]
Events = Annotated[EventStore, from_app_state("events")]
# Asks the other services over NATS (one inbox for every query).
QueryClientDep = Annotated[QueryClient, from_app_state("queries")]


async def db_transaction(database: Database) -> AsyncIterator[AsyncConnection]:
    """One transaction per request, committed when the handler returns without error."""
    async with database.begin() as conn:
        yield conn


# scope="function": commit before the response is sent, so a client that got its answer can
# read what it wrote (FastAPI's default would commit after sending).
Db = Annotated[AsyncConnection, Depends(db_transaction, scope="function")]
