"""Helpers for the erasure tests: look for a marker string in every stream, KV bucket and table,
and write chats "from the past" (events with an old time, as if written 30 days ago)."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from nats.js import JetStreamContext

from cortex_audit.verify import read_to_end
from cortex_contracts.envelope import Actor
from cortex_contracts.events.chat import MessageAdded, SessionCreated
from cortex_contracts.topology import Topology
from cortex_runtime.jetstream import publish_event
from tests.support.backends import libpq_url
from tests.support.stack import Stack

PATIENCE_SEC = 90.0


async def streams_holding(js: JetStreamContext, marker: str) -> list[str]:
    """'<stream> seq <n>' for every stored message (KV buckets are streams too) whose payload or
    headers hold `marker`."""
    found = []
    needle = marker.encode()
    for info in await js.streams_info():
        name = info.config.name or ""
        for pattern in info.config.subjects or []:
            async for batch in read_to_end(js, name, pattern):
                for message in batch:
                    headers = " ".join(f"{k}:{v}" for k, v in (message.headers or {}).items())
                    if needle in message.data or marker in headers:
                        found.append(f"{name} seq {message.seq}")
    return found


def tables_holding(stack: Stack, marker: str) -> list[str]:
    """'<schema>.<table>' for every table of the database with a row whose text holds `marker`."""
    found = []
    with psycopg.connect(libpq_url(stack.database_url)) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        for schema, table in tables:
            row = conn.execute(
                psycopg.sql.SQL("SELECT count(*) FROM {}.{} t WHERE t::text LIKE %s").format(
                    psycopg.sql.Identifier(schema), psycopg.sql.Identifier(table)
                ),
                (f"%{marker}%",),
            ).fetchone()
            if row and row[0]:
                found.append(f"{schema}.{table}")
    return found


async def until(check: Any, what: str) -> Any:
    """Polls `check()` (sync or async) until it returns something truthy (a generous deadline)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE_SEC
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        assert loop.time() < deadline, f"gave up waiting: {what}"
        await asyncio.sleep(0.2)


async def publish_old_chat(
    js: JetStreamContext,
    topology: Topology,
    *,
    user_id: str,
    org_id: str,
    text: str,
    days_ago: float,
    model: str = "sim-vllm-small",
) -> str:
    """A chat whose events say they happened `days_ago` (its last activity, for retention)."""
    session_id = str(uuid.uuid4())
    subject = topology.chat_subject(user_id, session_id)
    when = datetime.now(UTC) - timedelta(days=days_ago)
    actor = Actor(user_id=user_id, org_id=org_id)
    created = SessionCreated(
        aggregate_id=session_id,
        actor=actor,
        occurred_at=when,
        previous_seq=0,
        model_name=model,
        engine_type="vllm",
    )
    ack = await publish_event(js, subject, created, expected_last_subject_seq=0)
    message = MessageAdded(
        aggregate_id=session_id,
        actor=actor,
        occurred_at=when,
        previous_seq=ack.seq,
        role="user",
        content=text,
        model_name=model,
    )
    await publish_event(js, subject, message, expected_last_subject_seq=ack.seq)
    return session_id


async def publish_rejected_message(
    js: JetStreamContext, topology: Topology, *, user_id: str, org_id: str, text: str
) -> None:
    """A message for a chat that was never created: the projection dead-letters a copy of it.
    With partitions also on the one-partition layout's subject (a stray, dead-lettered too)."""
    session_id = str(uuid.uuid4())
    event = MessageAdded(
        aggregate_id=session_id,
        actor=Actor(user_id=user_id, org_id=org_id),
        previous_seq=0,
        role="user",
        content=text,
        model_name="sim-vllm-small",
    )
    subject = topology.chat_subject(user_id, session_id)
    await publish_event(js, subject, event, expected_last_subject_seq=0)
    for stray in topology.chat_stray_subjects_of(user_id, session_id):  # the other layout's
        await publish_event(js, stray, event, expected_last_subject_seq=0)
