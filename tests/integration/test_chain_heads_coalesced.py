"""Coalesced chain heads (cortex_runtime.anchors), on a real NATS: a busy subject's head is written
a few times instead of once per event, still ends on the newest event (so deleting it is found),
and a held head never brings back a key that an erasure deleted meanwhile."""

import asyncio
import uuid

import pytest
from nats.js.errors import KeyDeletedError, KeyNotFoundError

from cortex_audit.verify import verify_integrity
from cortex_contracts.events.usage import CompletionRecorded
from cortex_runtime import anchors
from cortex_runtime.chain import HeadAnchor
from cortex_runtime.jetstream import publish_event
from tests.integration.test_audit_integrity import Store, named
from tests.integration.test_audit_integrity import store as store  # the fixture

pytestmark = pytest.mark.integration

BURST = 30


def completion(model: str) -> CompletionRecorded:
    return CompletionRecorded(
        aggregate_id=str(uuid.uuid4()),
        model=model,
        engine_type="vllm",
        source="api",
        stream=True,
        status="complete",
        http_status=200,
        prompt_tokens=3,
        completion_tokens=5,
        total_tokens=8,
        latency_ms=10.0,
    )


async def burst(store: Store, subject: str, count: int) -> list[int]:
    """`count` usage events of one model, one after the other, as fast as they go."""
    return [
        (await publish_event(store.js, subject, completion("m"), coalesce_head=True)).seq
        for _ in range(count)
    ]


async def head(store: Store, subject: str) -> HeadAnchor:
    heads = await store.js.key_value(store.topology.chain_heads_bucket)
    return HeadAnchor.from_bytes((await heads.get(subject)).value or b"")


async def head_writes(store: Store) -> int:
    """Every write to the heads bucket (of this test's topology: only its subject's)."""
    bucket = await store.js.stream_info(f"KV_{store.topology.chain_heads_bucket}")
    return bucket.state.last_seq


async def test_a_burst_writes_few_heads_and_the_last_one_is_the_newest_event(
    store: Store,
) -> None:
    subject = store.topology.usage_subject("m")

    seqs = await burst(store, subject, BURST)
    await anchors.flush()

    assert (await head(store, subject)).seq == seqs[-1]
    assert await head_writes(store) < BURST // 2
    reports = await verify_integrity(store.js, store.topology)
    usage = next(r for r in reports if r.stream == store.topology.usage_stream)
    assert usage.events == BURST
    assert [finding for report in reports for finding in report.findings] == []


async def test_a_held_head_is_written_without_a_flush_too(store: Store) -> None:
    subject = store.topology.usage_subject("m")

    seqs = await burst(store, subject, 3)

    for _ in range(200):  # no flush: the held head is written at the end of its interval
        if (await head(store, subject)).seq == seqs[-1]:
            break
        await asyncio.sleep(anchors.HEAD_INTERVAL_SEC)
    assert (await head(store, subject)).seq == seqs[-1]


async def test_deleting_the_newest_event_of_a_busy_subject_is_found(store: Store) -> None:
    subject = store.topology.usage_subject("m")
    seqs = await burst(store, subject, BURST)
    await anchors.flush()

    await store.js.delete_msg(store.topology.usage_stream, seqs[-1])

    reports = await verify_integrity(store.js, store.topology)
    assert named([f for r in reports for f in r.findings]) == {("removed", subject, seqs[-1])}


async def test_a_held_head_does_not_bring_back_a_key_erased_meanwhile(store: Store) -> None:
    subject = store.topology.usage_subject("m")
    seqs = await burst(store, subject, 3)  # the first head is written, the newest is held
    assert (await head(store, subject)).seq == seqs[0]
    heads = await store.js.key_value(store.topology.chain_heads_bucket)

    await heads.delete(subject)  # as an erasure in another process does
    await anchors.flush()

    with pytest.raises((KeyDeletedError, KeyNotFoundError)):
        await heads.get(subject)


async def test_a_head_written_by_another_process_meanwhile_is_written_over(store: Store) -> None:
    subject = store.topology.usage_subject("m")
    seqs = await burst(store, subject, 3)
    heads = await store.js.key_value(store.topology.chain_heads_bucket)

    await heads.put(subject, HeadAnchor(seqs[0], "0" * 64).to_bytes())  # an older head
    await anchors.flush()

    assert (await head(store, subject)).seq == seqs[-1]
