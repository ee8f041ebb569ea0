"""What was acknowledged against what the projections and the event store hold: lost and
duplicated writes, and when the projections caught up."""

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import nats
import psycopg

from cortex_contracts.events.chat import MessageAdded
from cortex_contracts.topology import Topology
from cortex_runtime.connection import server_list
from tests.chaos.load import Outcome
from tests.support.backends import libpq_url

CATCH_UP_SEC = 120.0  # how long the projections may take after the fault (polled)


@dataclass
class Tally:
    acknowledged: dict[str, int] = field(default_factory=dict)
    found: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    caught_up_at: float | None = None  # time.monotonic() when nothing acknowledged was missing


def acknowledged(outcomes: list[Outcome]) -> dict[str, set[str]]:
    """What the users were told is stored: chats (ids), messages (contents; a completion's
    user turn once its stream started), completions streamed to the end (ids: one usage
    record each)."""
    chats = {o.key for o in outcomes if o.kind == "create" and o.acknowledged}
    messages = {o.key for o in outcomes if o.kind == "message" and o.acknowledged}
    turns = {o.text for o in outcomes if o.kind == "completion" and o.acknowledged}
    usage = {o.key for o in outcomes if o.kind == "completion" and o.finished and o.key}
    return {"chats": chats, "messages": messages, "turns": turns, "usage records": usage}


def _rows(database_url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq_url(database_url), connect_timeout=5) as conn:
        return conn.execute(query).fetchall()


def projections(database_url: str) -> dict[str, list[str]]:
    """Every chaos row the projections hold (a list: duplicates show)."""
    return {
        "chats": [str(r[0]) for r in _rows(database_url, "SELECT id FROM chat_sessions")],
        "messages": [
            r[0]
            for r in _rows(
                database_url,
                "SELECT content FROM chat_messages WHERE role = 'user' AND content LIKE 'chaos-%'",
            )
        ],
        "turns": [
            r[0]
            for r in _rows(
                database_url,
                "SELECT content FROM chat_messages WHERE role = 'user'"
                " AND content LIKE 'echo: chaos-%'",
            )
        ],
        "answers": [
            r[0]
            for r in _rows(
                database_url,
                "SELECT content FROM chat_messages WHERE role = 'assistant'"
                " AND content LIKE 'chaos-%'",
            )
        ],
        "usage records": [
            r[0] for r in _rows(database_url, "SELECT completion_id FROM usage_records")
        ],
    }


def compare(outcomes: list[Outcome], database_url: str) -> Tally:
    wanted = acknowledged(outcomes)
    held = projections(database_url)
    tally = Tally()
    for name, keys in wanted.items():
        present = set(held[name])
        tally.acknowledged[name] = len(keys)
        tally.found[name] = len(keys & present)
        tally.lost += [f"{name}: {key}" for key in sorted(keys - present)]
    for name, rows in held.items():
        tally.duplicated += [f"{name}: {row}" for row, n in Counter(rows).items() if n > 1]
    return tally


async def settle(outcomes: list[Outcome], database_url: str) -> Tally:
    """Compare until nothing acknowledged is missing (or CATCH_UP_SEC passed); PostgreSQL may
    still be coming back."""
    deadline = time.monotonic() + CATCH_UP_SEC
    while True:
        try:
            tally = compare(outcomes, database_url)
        except psycopg.OperationalError:
            tally = Tally(lost=["(PostgreSQL not answering)"])
        if not tally.lost:
            tally.caught_up_at = time.monotonic()
            return tally
        if time.monotonic() > deadline:
            return tally
        await asyncio.sleep(0.5)


async def missing_from_event_store(
    outcomes: list[Outcome], nats_url: str, topology: Topology
) -> list[str]:
    """Each acknowledged message read back from the chat stream at the sequence the gateway
    answered with: it must be that very message."""
    client = await nats.connect(servers=server_list(nats_url))
    js = client.jetstream(timeout=10)
    missing = []
    try:
        for outcome in outcomes:
            if outcome.kind != "message" or not outcome.acknowledged or outcome.seq is None:
                continue
            stored = await js.get_msg(topology.chat_stream, outcome.seq, direct=True)
            event = MessageAdded.model_validate_json(stored.data or b"")
            if event.content != outcome.key:
                missing.append(f"message {outcome.key} at {outcome.seq}")
    finally:
        await client.close()
    return missing
