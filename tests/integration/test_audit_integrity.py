"""Tamper evidence: events published through the runtime form a hash chain per subject, and
`cortex-audit verify --integrity` names every event someone edited, deleted or moved with the NATS
client directly (docs/audit.md)."""

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import nats
import pytest
from nats.js import JetStreamContext

from cortex_audit.integrity import Finding
from cortex_audit.verify import verify_integrity
from cortex_contracts.envelope import Actor
from cortex_contracts.events.chat import MessageAdded, SessionCreated
from cortex_contracts.topology import Topology
from cortex_runtime import anchors
from cortex_runtime.chain import HASH, PREV_HASH
from cortex_runtime.jetstream import ensure_streams, publish_event
from tests.support.backends import Backends

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Store:
    js: JetStreamContext
    topology: Topology

    async def findings(self) -> list[Finding]:
        reports = await verify_integrity(self.js, self.topology)
        return [finding for report in reports for finding in report.findings]


@dataclass(frozen=True)
class Chat:
    subject: str
    seqs: list[int]  # stream sequences of its events, oldest first


@pytest.fixture
async def store(backends: Backends) -> AsyncIterator[Store]:
    client = await nats.connect(backends.nats_url)
    topology = Topology(prefix=f"t{uuid.uuid4().hex[:10]}")
    js = client.jetstream()
    await ensure_streams(js, topology)
    try:
        yield Store(js, topology)
    finally:
        await anchors.flush()  # no held chain head outlives its streams
        for config in topology.stream_configs():
            assert config.name is not None
            await js.delete_stream(config.name)
        await js.delete_key_value(topology.chain_heads_bucket)
        await client.close()


async def write_chat(store: Store, texts: list[str]) -> Chat:
    """A chat as the gateway writes it: created, then messages, each expecting the last one."""
    user, session = str(uuid.uuid4()), str(uuid.uuid4())
    subject = store.topology.chat_subject(user, session)
    actor = Actor(user_id=user)
    created = SessionCreated(
        aggregate_id=session, actor=actor, previous_seq=0, model_name="m", engine_type="vllm"
    )
    seqs = [(await publish_event(store.js, subject, created, expected_last_subject_seq=0)).seq]
    for text in texts:
        message = MessageAdded(
            aggregate_id=session,
            actor=actor,
            previous_seq=seqs[-1],
            role="user",
            content=text,
            model_name="m",
        )
        ack = await publish_event(store.js, subject, message, expected_last_subject_seq=seqs[-1])
        seqs.append(ack.seq)
    return Chat(subject, seqs)


async def two_chats(store: Store) -> tuple[Chat, Chat]:
    """Interleaved, as chats are in the stream: a finding must name the right one."""
    first = await write_chat(store, ["hello", "how are you", "bye"])
    second = await write_chat(store, ["other chat", "still here"])
    return first, second


async def republish(store: Store, seq: int, data: bytes | None = None) -> int:
    """Takes a stored event out and stores it again at the end (as someone with NATS access
    could), with its own chain headers, its content replaced when `data` is given."""
    stream = store.topology.chat_stream
    original = await store.js.get_msg(stream, seq)
    await store.js.delete_msg(stream, seq)
    headers = {name: (original.headers or {})[name] for name in (PREV_HASH, HASH)}
    ack = await store.js.publish(original.subject, data or original.data or b"", headers=headers)
    return ack.seq


def named(findings: list[Finding]) -> set[tuple[str, str, int]]:
    return {(finding.kind, finding.subject, finding.seq) for finding in findings}


async def test_untouched_chats_verify_clean(store: Store) -> None:
    await two_chats(store)

    reports = await verify_integrity(store.js, store.topology)

    chat = next(r for r in reports if r.stream == store.topology.chat_stream)
    assert chat.events == 7
    assert chat.findings == []


async def test_an_edited_message_is_named(store: Store) -> None:
    first, _ = await two_chats(store)
    original = await store.js.get_msg(store.topology.chat_stream, first.seqs[2])
    edited = (original.data or b"").replace(b"how are you", b"send me the keys")

    new_seq = await republish(store, first.seqs[2], edited)

    assert ("altered", first.subject, new_seq) in named(await store.findings())


async def test_an_edit_that_rewrites_the_hash_too_breaks_the_next_link(store: Store) -> None:
    first, _ = await two_chats(store)
    stream = store.topology.chat_stream
    last = await store.js.get_msg(stream, first.seqs[-1])
    await store.js.delete_msg(stream, first.seqs[-1])
    # the forger recomputes nothing but the hash header of the newest event
    headers = {PREV_HASH: (last.headers or {})[PREV_HASH], HASH: "f" * 64}
    await store.js.publish(first.subject, last.data or b"", headers=headers)

    kinds = {finding.kind for finding in await store.findings()}

    assert {"altered", "removed"} <= kinds  # its hash is wrong, and the recorded head is gone


async def test_an_event_deleted_in_the_middle_is_named(store: Store) -> None:
    first, _ = await two_chats(store)

    await store.js.delete_msg(store.topology.chat_stream, first.seqs[2])

    findings = await store.findings()
    assert named(findings) == {("removed", first.subject, first.seqs[3])}
    assert f"between seq {first.seqs[1]} and {first.seqs[3]}" in findings[0].detail


async def test_the_newest_event_of_a_chat_deleted_is_named_by_its_recorded_head(
    store: Store,
) -> None:
    _, second = await two_chats(store)

    await store.js.delete_msg(store.topology.chat_stream, second.seqs[-1])

    findings = await store.findings()
    assert named(findings) == {("removed", second.subject, second.seqs[-1])}
    assert f"ends at seq {second.seqs[-2]}" in findings[0].detail


async def test_a_whole_chat_deleted_is_named(store: Store) -> None:
    first, _ = await two_chats(store)

    await store.js.purge_stream(store.topology.chat_stream, subject=first.subject)

    assert named(await store.findings()) == {("removed", first.subject, first.seqs[-1])}


async def test_two_events_swapped_are_named_as_reordered(store: Store) -> None:
    first, _ = await two_chats(store)
    a, b = first.seqs[1], first.seqs[2]
    stream = store.topology.chat_stream
    kept = [await store.js.get_msg(stream, seq) for seq in (a, b)]
    for seq in (a, b):
        await store.js.delete_msg(stream, seq)

    moved = []
    for message in reversed(kept):  # b first, then a
        headers = {name: (message.headers or {})[name] for name in (PREV_HASH, HASH)}
        moved.append(
            (await store.js.publish(first.subject, message.data or b"", headers=headers)).seq
        )

    findings = await store.findings()
    assert {("reordered", first.subject, seq) for seq in moved} <= named(findings)
    assert {finding.kind for finding in findings} == {"reordered"}  # nothing is missing


async def test_concurrent_publishers_on_one_subject_keep_one_chain(store: Store) -> None:
    """Usage and audit events of one subject come from many replicas at once."""
    await two_chats(store)
    subject = store.topology.audit_subject("login")
    events = [
        SessionCreated(aggregate_id=str(i), previous_seq=0, model_name="m", engine_type="vllm")
        for i in range(40)
    ]

    await asyncio.gather(*(publish_event(store.js, subject, event) for event in events))

    reports = await verify_integrity(store.js, store.topology)
    audit = next(r for r in reports if r.stream == store.topology.audit_stream)
    assert audit.events == 40
    assert [finding for report in reports for finding in report.findings] == []


async def test_the_console_script_names_a_deleted_event_and_fails(
    store: Store, backends: Backends
) -> None:
    first, _ = await two_chats(store)
    await store.js.delete_msg(store.topology.chat_stream, first.seqs[1])
    env = {
        **os.environ,
        "CORTEX_NATS_URL": backends.nats_url,
        "CORTEX_NATS_PREFIX": store.topology.prefix,
    }
    command = [sys.executable, "-m", "cortex_audit", "verify", "--integrity", "--no-progress"]

    done = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 1, done.stderr
    assert f"removed   {store.topology.chat_stream} {first.subject} seq {first.seqs[2]}" in (
        done.stdout
    )
