"""`cortex-audit export` and `timeline` on a real NATS: a chat's export is its events, a user's
export holds their usage and the security events they took part in (as actor or as target),
times bound it, and the timeline tells it in order (docs/audit.md)."""

import asyncio
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nats
import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from cortex_audit.trail import export
from cortex_contracts.envelope import Actor, Event
from cortex_contracts.events.audit import AuditRecorded
from cortex_contracts.events.chat import MessageAdded, SessionCreated, SessionDeleted
from cortex_contracts.events.usage import CompletionRecorded
from cortex_contracts.settings import NatsSettings
from cortex_contracts.topology import Topology
from cortex_runtime.history import KnownUser, read_timeline
from cortex_runtime.jetstream import ensure_streams, publish_event
from tests.support.backends import Backends

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Store:
    js: JetStreamContext
    topology: Topology
    config: NatsSettings

    async def export(self, **filters: str | None) -> list[dict[str, Any]]:
        out = io.BytesIO()
        full = {"user": None, "chat": None, "since": None, "until": None, **filters}
        await export(self.config, out, **full)
        return [json.loads(line) for line in out.getvalue().splitlines()]

    async def stored(self, stream: str, subject: str) -> list[tuple[int, bytes, datetime]]:
        """(seq, payload, time) of every message on `subject`, read one by one."""
        found, seq = [], 1
        while True:
            try:
                msg = await self.js.get_msg(stream, seq=seq, subject=subject, next=True)
            except NotFoundError:
                return found
            assert msg.seq is not None and msg.data is not None and msg.time is not None
            found.append((msg.seq, msg.data, msg.time))
            seq = msg.seq + 1


@pytest.fixture
async def store(backends: Backends) -> AsyncIterator[Store]:
    client = await nats.connect(backends.nats_url)
    topology = Topology(prefix=f"t{uuid.uuid4().hex[:10]}")
    js = client.jetstream()
    await ensure_streams(js, topology)
    config = NatsSettings(nats_url=backends.nats_url, nats_prefix=topology.prefix)
    try:
        yield Store(js, topology, config)
    finally:
        for stream in topology.stream_configs():
            assert stream.name is not None
            await js.delete_stream(stream.name)
        await js.delete_key_value(topology.chain_heads_bucket)
        await client.close()


@dataclass
class Person:
    user_id: str
    username: str

    @property
    def actor(self) -> Actor:
        return Actor(user_id=self.user_id)


async def audit(store: Store, action: str, subject: str, by: Person | None, **details: Any) -> int:
    event = AuditRecorded(
        action=action,  # type: ignore[arg-type]  # the tests use the declared actions
        aggregate_id=subject,
        actor=by.actor if by else Actor(),
        remote_addr="10.0.0.7",
        details=details,
    )
    return (await publish_event(store.js, store.topology.audit_subject(action), event)).seq


async def new_user(store: Store, admin: Person | None) -> Person:
    person = Person(str(uuid.uuid4()), f"u-{uuid.uuid4().hex[:6]}")
    by = {"by_username": admin.username} if admin else {}
    await audit(
        store, "user.created", person.user_id, admin, username=person.username, role="user", **by
    )
    return person


async def chat(store: Store, person: Person, *texts: str, title: str | None = None) -> str:
    chat_id = str(uuid.uuid4())
    subject = store.topology.chat_subject(person.user_id, chat_id)
    last = 0

    async def write(event: Event) -> None:
        nonlocal last
        last = (await publish_event(store.js, subject, event, expected_last_subject_seq=last)).seq

    await write(
        SessionCreated(
            aggregate_id=chat_id,
            actor=person.actor,
            previous_seq=0,
            title=title,
            model_name="m1",
            engine_type="vllm",
        )
    )
    for number, text in enumerate(texts):
        role = "user" if number % 2 == 0 else "assistant"
        await write(
            MessageAdded(
                aggregate_id=chat_id,
                actor=person.actor,
                previous_seq=last,
                role=role,
                content=text,
                model_name="m1",
            )
        )
    return chat_id


async def delete_chat(store: Store, person: Person, chat_id: str) -> None:
    subject = store.topology.chat_subject(person.user_id, chat_id)
    last = (await store.js.get_last_msg(store.topology.chat_stream, subject)).seq or 0
    deleted = SessionDeleted(aggregate_id=chat_id, actor=person.actor, previous_seq=last)
    await publish_event(store.js, subject, deleted, expected_last_subject_seq=last)


async def usage(store: Store, person: Person, chat_id: str | None) -> int:
    event = CompletionRecorded(
        aggregate_id=str(uuid.uuid4()),
        actor=person.actor,
        model="m1",
        engine_type="vllm",
        source="playground" if chat_id else "api",
        stream=True,
        status="complete",
        latency_ms=12.0,
        chat_session_id=chat_id,
    )
    return (await publish_event(store.js, store.topology.usage_subject("m1"), event)).seq


def where(lines: list[dict[str, Any]], stream: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["stream"] == stream]


async def test_a_chats_export_is_its_events_with_its_usage(store: Store) -> None:
    alice, bob = await new_user(store, None), await new_user(store, None)
    chat_id = await chat(store, alice, "hello", "hi there", "how are you?", "fine")
    await chat(store, bob, "someone else's chat")
    await usage(store, alice, chat_id)
    await usage(store, alice, None)

    lines = await store.export(chat=chat_id)

    topology = store.topology
    subject = topology.chat_subject(alice.user_id, chat_id)
    direct = await store.stored(topology.chat_stream, subject)
    chat_lines = where(lines, topology.chat_stream)
    assert [line["seq"] for line in chat_lines] == [seq for seq, _, _ in direct]
    assert [line["event"] for line in chat_lines] == [json.loads(data) for _, data, _ in direct]
    assert {line["subject"] for line in chat_lines} == {subject}
    usage_lines = where(lines, topology.usage_stream)
    assert [line["event"]["chat_session_id"] for line in usage_lines] == [chat_id]
    assert where(lines, topology.audit_stream) == []
    times = [datetime.fromisoformat(line["time"]) for line in lines]
    assert times == sorted(times)


async def test_a_users_export_holds_their_usage_and_what_they_did_or_underwent(
    store: Store,
) -> None:
    admin = await new_user(store, None)
    alice = await new_user(store, admin)
    bob = await new_user(store, admin)
    alice_chat = await chat(store, alice, "my question", "an answer")
    await chat(store, bob, "bob's question")
    await usage(store, alice, alice_chat)
    await usage(store, bob, None)
    mine = [
        await audit(store, "auth.login.succeeded", alice.user_id, alice, username=alice.username),
        await audit(store, "auth.login.failed", alice.username, None),
        await audit(
            store,
            "user.role_changed",
            alice.user_id,
            admin,
            username=alice.username,
            previous_role="user",
            role="admin",
            by_username=admin.username,
        ),
        await audit(store, "api_key.created", "key-1", admin, user_id=alice.user_id, name="ci"),
    ]
    await audit(store, "auth.login.succeeded", bob.user_id, bob, username=bob.username)
    await audit(store, "api_key.created", "key-2", admin, user_id=bob.user_id, name="bob's")

    by_name = await store.export(user=alice.username)
    by_id = await store.export(user=alice.user_id)

    assert by_name == by_id
    topology = store.topology
    assert {line["subject"] for line in where(by_name, topology.chat_stream)} == {
        topology.chat_subject(alice.user_id, alice_chat)
    }
    assert [
        line["event"]["actor"]["user_id"] for line in where(by_name, topology.usage_stream)
    ] == [alice.user_id]
    audit_lines = where(by_name, topology.audit_stream)
    creation = [line for line in audit_lines if line["event"]["action"] == "user.created"]
    assert [line["seq"] for line in audit_lines if line not in creation] == mine
    assert creation[0]["event"]["aggregate_id"] == alice.user_id
    assert "bob" not in json.dumps([line["event"] for line in by_name])


async def test_since_and_until_bound_the_export_by_store_time(store: Store) -> None:
    alice = await new_user(store, None)
    chat_id = await chat(store, alice, *(f"message {n}" for n in range(6)))
    subject = store.topology.chat_subject(alice.user_id, chat_id)
    stored = await store.stored(store.topology.chat_stream, subject)
    since, until = stored[2][2], stored[5][2]

    lines = await store.export(
        user=alice.username, since=since.isoformat(), until=until.isoformat()
    )
    after = await store.export(since=until.isoformat())

    assert [line["seq"] for line in lines] == [seq for seq, _, _ in stored[2:5]]
    assert [line["seq"] for line in where(after, store.topology.chat_stream)] == [
        seq for seq, _, _ in stored[5:]
    ]


async def test_the_timeline_tells_a_users_history_in_order(store: Store) -> None:
    admin = await new_user(store, None)
    alice = await new_user(store, admin)
    await audit(store, "auth.login.succeeded", alice.user_id, alice, username=alice.username)
    first = await chat(store, alice, "Plan the trip to Lisbon", "Sure, here is a plan")
    await chat(store, alice, "second chat", title="Groceries")
    await delete_chat(store, alice, first)
    await audit(
        store,
        "api_key.created",
        "k1",
        admin,
        user_id=alice.user_id,
        name="laptop",
        prefix="ctx_ab12",
        username=alice.username,
        by_username=admin.username,
    )
    await audit(
        store,
        "api_key.revoked",
        "k1",
        admin,
        user_id=alice.user_id,
        prefix="ctx_ab12",
        by_username=admin.username,
    )
    await audit(
        store,
        "user.role_changed",
        alice.user_id,
        admin,
        username=alice.username,
        previous_role="user",
        role="admin",
        by_username=admin.username,
    )

    known = KnownUser(alice.user_id, alice.username)
    entries = [e async for e in read_timeline(store.js, store.topology, known)]

    told = [(e.actor, e.what) for e in entries]
    assert told == [
        (admin.username, f"created the user {alice.username} (role user)"),
        (alice.username, "logged in from 10.0.0.7"),
        (alice.username, "created a chat with m1"),
        (alice.username, "wrote a message in the chat “Plan the trip to Lisbon”"),
        (alice.username, "got an answer from m1 in the chat “Plan the trip to Lisbon”"),
        (alice.username, "created a chat with m1"),
        (alice.username, "wrote a message in the chat “Groceries”"),
        (alice.username, "deleted the chat “Plan the trip to Lisbon”"),
        (admin.username, f"created the API key laptop (ctx_ab12…) for {alice.username}"),
        (admin.username, f"revoked the API key laptop (ctx_ab12…) of {alice.username}"),
        (admin.username, f"changed the role of {alice.username} from user to admin"),
    ]
    assert [e.by_other for e in entries][-3:] == [True, True, True]
    assert [e.time for e in entries] == sorted(e.time for e in entries)


async def test_the_console_script_exports_and_refuses_an_unknown_user(
    store: Store, backends: Backends
) -> None:
    alice = await new_user(store, None)
    await chat(store, alice, "hello")
    env = {
        **os.environ,
        "CORTEX_NATS_URL": backends.nats_url,
        "CORTEX_NATS_PREFIX": store.topology.prefix,
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "cortex_audit", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    exported = await asyncio.to_thread(run, "export", "--user", alice.username)
    told = await asyncio.to_thread(run, "timeline", "--user", alice.user_id)
    unknown = await asyncio.to_thread(run, "export", "--user", "nobody-at-all")
    backwards = await asyncio.to_thread(
        run, "export", "--since", "2026-01-02T00:00:00", "--until", "2026-01-01T00:00:00"
    )

    assert exported.returncode == 0, exported.stderr
    assert [json.loads(line)["stream"] for line in exported.stdout.splitlines()] == [
        store.topology.audit_stream,
        store.topology.chat_stream,
        store.topology.chat_stream,
    ]
    assert told.returncode == 0, told.stderr
    assert "wrote a message in the chat “hello”" in told.stdout
    assert unknown.returncode == 2 and "nobody-at-all" in unknown.stderr
    assert backwards.returncode != 0 and "since must be before until" in backwards.stderr
