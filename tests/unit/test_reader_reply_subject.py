"""`read_through` reads an event's sequence from its reply subject instead of nats-py's metadata
(docs/audit.md, Speed): both reply formats the server sends give the same sequences."""

import pytest
from nats.aio.msg import Msg

from cortex_runtime.reader import sequences

pytestmark = pytest.mark.unit

V1 = "$JS.ACK.chat.reader.1.4711.12.1765000000000000000.3"
V2 = "$JS.ACK.hub.ACCOUNTHASH.chat.reader.1.4711.12.1765000000000000000.3.token"


@pytest.mark.parametrize("reply", [V1, V2])
def test_sequences_match_what_nats_py_parses(reply: str) -> None:
    metadata = Msg.Metadata._from_reply(reply)
    assert sequences(reply) == (
        metadata.sequence.stream,
        metadata.sequence.consumer,
        metadata.num_pending,
    )
    assert sequences(reply) == (4711, 12, 3)
