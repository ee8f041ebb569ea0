"""`cortex-audit export` and `cortex-audit timeline`: one user's, one chat's or one period's
events from the streams, as JSON Lines or as sentences (docs/audit.md)."""

import sys
from datetime import datetime
from typing import BinaryIO, TextIO

from nats.aio.client import Client
from pydantic import ValidationError

from cortex_contracts.settings import NatsSettings
from cortex_contracts.timeline import TimelineEntry
from cortex_contracts.trail import TrailQuery, selections
from cortex_runtime.connection import connect
from cortex_runtime.history import KnownUser, export_line, find_user, read_timeline, read_trail


class UnknownUser(Exception):
    pass


async def trail_query(
    client: Client,
    config: NatsSettings,
    user: str | None,
    chat: str | None,
    since: str | None,
    until: str | None,
) -> TrailQuery:
    """The query of the command line; raises UnknownUser or SystemExit (bad filter)."""
    known = await _known(client, config, user) if user else None
    try:
        return TrailQuery(
            user_id=known.user_id if known else None,
            username=known.username if known else None,
            chat_id=chat,  # a UUID: the model validates it
            since=since,
            until=until,
        )
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise SystemExit(f"cortex-audit: {where + ': ' if where else ''}{message}") from error


async def _known(client: Client, config: NatsSettings, who: str) -> KnownUser:
    known = await find_user(client.jetstream(), config.topology, who)
    if known is None:
        raise UnknownUser(f"cortex-audit: no user {who!r} (by id or username) in the audit trail")
    return known


async def export(config: NatsSettings, out: BinaryIO, **filters: str | None) -> int:
    """Writes the selected events as JSON Lines; returns how many."""
    client = await connect(config.nats_url, "cortex-audit")
    try:
        query = await trail_query(client, config, **filters)
        count = 0
        async for recorded in read_trail(
            client.jetstream(), selections(config.topology, query), query.since, query.until
        ):
            out.write(export_line(recorded))
            count += 1
        out.flush()
        return count
    finally:
        await client.close()


async def timeline(config: NatsSettings, user: str, out: TextIO = sys.stdout) -> int:
    client = await connect(config.nats_url, "cortex-audit")
    try:
        known = await _known(client, config, user)
        out.write(f"timeline of {known.username} ({known.user_id})\n")
        count = 0
        async for entry in read_timeline(client.jetstream(), config.topology, known):
            out.write(timeline_line(entry) + "\n")
            count += 1
        return count
    finally:
        await client.close()


def timeline_line(entry: TimelineEntry) -> str:
    return f"{_when(entry.time)}  {entry.actor:<16} {entry.what}"


def _when(time: datetime) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")
