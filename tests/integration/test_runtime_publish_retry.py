"""The one publish path rides out a lost acknowledgement and a stream with no leader for a while:
sent again with the same message id, stored once, the hash chain intact; after
PUBLISH_RETRY_SEC it gives up with the error (which the gateway answers with 503)."""

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import nats
import nats.errors
import pytest
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import APIError, BadRequestError, NoStreamResponseError

from cortex_audit.verify import verify_integrity
from cortex_contracts.envelope import Actor
from cortex_contracts.events.chat import MessageAdded, SessionCreated
from cortex_contracts.topology import Topology
from cortex_runtime.jetstream import (
    PUBLISH_RETRY_SEC,
    ConcurrentWriteError,
    ensure_streams,
    publish_event,
)
from tests.support.backends import Backends

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(backends: Backends) -> AsyncIterator[tuple[JetStreamContext, Topology]]:
    client = await nats.connect(backends.nats_url)
    topology = Topology(prefix=f"t{uuid.uuid4().hex[:10]}")
    js = client.jetstream(timeout=1)
    await ensure_streams(js, topology)
    try:
        yield js, topology
    finally:
        for config in topology.stream_configs():
            assert config.name is not None
            await js.delete_stream(config.name)
        await js.delete_key_value(topology.chain_heads_bucket)
        await client.close()


def losing_first_ack(js: JetStreamContext, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The next publish is stored, but its acknowledgement never arrives (a leader that died
    right after storing it, a network cut): the caller sees a timeout."""
    real = js.publish
    lost: list[int] = []

    async def publish(*args: Any, **kwargs: Any) -> PubAck:
        ack = await real(*args, **kwargs)
        if not lost:
            lost.append(ack.seq)
            raise nats.errors.TimeoutError
        return ack

    monkeypatch.setattr(js, "publish", publish)
    return lost


def chat_events(session: str) -> tuple[SessionCreated, list[MessageAdded]]:
    actor = Actor(user_id=str(uuid.uuid4()))
    created = SessionCreated(
        aggregate_id=session, actor=actor, previous_seq=0, model_name="m", engine_type="vllm"
    )
    messages = [
        MessageAdded(
            aggregate_id=session,
            actor=actor,
            previous_seq=0,
            role="user",
            content=text,
            model_name="m",
        )
        for text in ("first", "second")
    ]
    return created, messages


async def test_a_write_whose_ack_was_lost_is_stored_once_and_the_chain_holds(
    store: tuple[JetStreamContext, Topology], monkeypatch: pytest.MonkeyPatch
) -> None:
    js, topology = store
    session = str(uuid.uuid4())
    subject = topology.chat_subject(str(uuid.uuid4()), session)
    created, (first, second) = chat_events(session)
    at = (await publish_event(js, subject, created, expected_last_subject_seq=0)).seq

    lost = losing_first_ack(js, monkeypatch)
    ack = await publish_event(js, subject, first, expected_last_subject_seq=at)
    after = await publish_event(js, subject, second, expected_last_subject_seq=ack.seq)

    assert lost == [ack.seq]  # the retry found the first attempt's message, not a new one
    assert not ack.duplicate  # the caller's write, not somebody else's earlier one
    assert (await js.stream_info(topology.chat_stream)).state.messages == 3
    assert after.seq > ack.seq
    reports = await verify_integrity(js, topology)
    assert [finding for report in reports for finding in report.findings] == []


async def test_a_write_without_an_expected_sequence_is_stored_once_too(
    store: tuple[JetStreamContext, Topology], monkeypatch: pytest.MonkeyPatch
) -> None:
    js, topology = store
    subject = topology.chat_subject(str(uuid.uuid4()), str(uuid.uuid4()))
    created, _ = chat_events(str(uuid.uuid4()))

    lost = losing_first_ack(js, monkeypatch)
    ack = await publish_event(js, subject, created)

    assert lost == [ack.seq]
    assert (await js.stream_info(topology.chat_stream)).state.messages == 1
    reports = await verify_integrity(js, topology)
    assert [finding for report in reports for finding in report.findings] == []


def leaderless_for(
    js: JetStreamContext, monkeypatch: pytest.MonkeyPatch, seconds: float
) -> list[int]:
    """For `seconds`, nobody answers a publish (a stream electing a new leader: "no
    responders"); the count of refused attempts is returned."""
    real = js.publish
    until = time.monotonic() + seconds
    refused: list[int] = []

    async def publish(*args: Any, **kwargs: Any) -> PubAck:
        if time.monotonic() < until:
            refused.append(1)
            raise NoStreamResponseError
        return await real(*args, **kwargs)

    monkeypatch.setattr(js, "publish", publish)
    return refused


async def test_a_stream_without_a_leader_for_a_while_is_waited_for(
    store: tuple[JetStreamContext, Topology], monkeypatch: pytest.MonkeyPatch
) -> None:
    js, topology = store
    subject = topology.chat_subject(str(uuid.uuid4()), str(uuid.uuid4()))
    created, _ = chat_events(str(uuid.uuid4()))

    refused = leaderless_for(js, monkeypatch, 1.5)
    ack = await publish_event(js, subject, created, expected_last_subject_seq=0)

    assert len(refused) > 1
    assert ack.seq == 1
    assert (await js.stream_info(topology.chat_stream)).state.messages == 1


async def test_a_stream_that_stays_away_is_an_error_within_the_bound(
    store: tuple[JetStreamContext, Topology], monkeypatch: pytest.MonkeyPatch
) -> None:
    js, topology = store
    subject = topology.chat_subject(str(uuid.uuid4()), str(uuid.uuid4()))
    created, _ = chat_events(str(uuid.uuid4()))

    leaderless_for(js, monkeypatch, 3600)
    started = time.monotonic()
    with pytest.raises(NoStreamResponseError):
        await publish_event(js, subject, created, expected_last_subject_seq=0)
    waited = time.monotonic() - started

    assert waited < PUBLISH_RETRY_SEC + 5.0  # gave up, not hung (generous: a shared machine)


def answering_once(
    js: JetStreamContext, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> list[int]:
    """The first attempt gets `error` (not stored), the next ones go through."""
    real = js.publish
    answered: list[int] = []

    async def publish(*args: Any, **kwargs: Any) -> PubAck:
        if not answered:
            answered.append(1)
            raise error
        return await real(*args, **kwargs)

    monkeypatch.setattr(js, "publish", publish)
    return answered


async def test_a_clustered_leader_still_settling_the_same_id_is_waited_for(
    store: tuple[JetStreamContext, Topology], monkeypatch: pytest.MonkeyPatch
) -> None:
    js, topology = store
    subject = topology.chat_subject(str(uuid.uuid4()), str(uuid.uuid4()))
    created, _ = chat_events(str(uuid.uuid4()))
    in_process = APIError(
        code=409, err_code=10158, description="duplicate message id is in process"
    )

    answered = answering_once(js, monkeypatch, in_process)
    ack = await publish_event(js, subject, created, expected_last_subject_seq=0)

    assert answered == [1]
    assert ack.seq == 1


async def test_a_clustered_leaders_conflict_code_is_a_concurrent_write(
    store: tuple[JetStreamContext, Topology], monkeypatch: pytest.MonkeyPatch
) -> None:
    js, topology = store
    subject = topology.chat_subject(str(uuid.uuid4()), str(uuid.uuid4()))
    created, _ = chat_events(str(uuid.uuid4()))
    conflict = BadRequestError(code=400, err_code=10164, description="wrong last sequence")

    answering_once(js, monkeypatch, conflict)
    with pytest.raises(ConcurrentWriteError):
        await publish_event(js, subject, created, expected_last_subject_seq=0)


async def test_an_id_still_in_process_at_the_bound_is_a_timeout(
    store: tuple[JetStreamContext, Topology], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cluster without quorum keeps the first attempt "in process": the caller gets the
    timeout that the gateway answers with 503, not an unknown error (a 500)."""
    js, topology = store
    subject = topology.chat_subject(str(uuid.uuid4()), str(uuid.uuid4()))
    created, _ = chat_events(str(uuid.uuid4()))

    async def in_process(*args: Any, **kwargs: Any) -> PubAck:
        raise APIError(code=409, err_code=10158, description="message id is in process")

    monkeypatch.setattr(js, "publish", in_process)
    with pytest.raises(nats.errors.TimeoutError):
        await publish_event(js, subject, created, expected_last_subject_seq=0)
