"""What the chat commands rely on from JetStream: per-subject optimistic concurrency, and the
order of its checks (the expected last sequence is checked before the message id)."""

import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from nats.js import JetStreamContext
from nats.js.errors import BadRequestError

from cortex_contracts.topology import Topology
from cortex_runtime.jetstream import WRONG_LAST_SEQUENCE, ensure_streams
from tests.support.backends import Backends

pytestmark = pytest.mark.integration


@pytest.fixture
async def chat_stream(backends: Backends) -> AsyncIterator[tuple[JetStreamContext, Topology]]:
    client = await nats.connect(backends.nats_url)
    topology = Topology(prefix=f"t{uuid.uuid4().hex[:10]}")
    js = client.jetstream()
    await ensure_streams(js, topology)
    try:
        yield js, topology
    finally:
        for config in topology.stream_configs():
            assert config.name is not None
            await js.delete_stream(config.name)
        await client.close()


def write(key: str, expected: int) -> dict[str, str]:
    return {"Nats-Msg-Id": key, "Nats-Expected-Last-Subject-Sequence": str(expected)}


async def test_a_retry_with_a_stale_sequence_fails_the_check_then_is_a_duplicate(
    chat_stream: tuple[JetStreamContext, Topology],
) -> None:
    js, topology = chat_stream
    subject = topology.chat_subject(str(uuid.uuid4()), str(uuid.uuid4()))
    created = await js.publish(subject, b"created", headers=write("create", 0))
    first = await js.publish(subject, b"message", headers=write("message-key", created.seq))

    with pytest.raises(BadRequestError) as stale:
        await js.publish(subject, b"message", headers=write("message-key", created.seq))
    retried = await js.publish(subject, b"message", headers=write("message-key", first.seq))

    assert stale.value.err_code == WRONG_LAST_SEQUENCE
    assert retried.duplicate is True
    assert retried.seq == first.seq
    assert (await js.stream_info(topology.chat_stream)).state.messages == 2


async def test_two_writers_expecting_the_same_sequence_cannot_both_append(
    chat_stream: tuple[JetStreamContext, Topology],
) -> None:
    js, topology = chat_stream
    subject = topology.chat_subject(str(uuid.uuid4()), str(uuid.uuid4()))
    created = await js.publish(subject, b"created", headers=write("c", 0))
    other_chat = topology.chat_subject(str(uuid.uuid4()), str(uuid.uuid4()))
    await js.publish(other_chat, b"elsewhere")  # other subjects do not count

    winner = await js.publish(subject, b"a", headers=write("a", created.seq))
    with pytest.raises(BadRequestError) as loser:
        await js.publish(subject, b"b", headers=write("b", created.seq))

    assert winner.seq > created.seq
    assert loser.value.err_code == WRONG_LAST_SEQUENCE
