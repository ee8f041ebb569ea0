"""A task cancelled while it publishes an event is cancelled, also when the cancel lands just as
the store's acknowledgement arrives: nats-py awaits it with asyncio.wait_for, which in Python 3.11
then returns the acknowledgement and drops the cancel (a bench run's engine sampler went on
sampling for good that way, its run "running" until the stack stopped)."""

import asyncio
from typing import cast

import pytest
from nats.js import JetStreamContext
from nats.js.api import PubAck

from cortex_contracts.envelope import Event
from cortex_runtime import chain
from cortex_runtime.jetstream import publish_event

pytestmark = pytest.mark.unit


class AckedLater:
    """A JetStream context whose acknowledgement the test hands over."""

    _timeout = 5.0

    def __init__(self) -> None:
        self.ack: asyncio.Future[PubAck] | None = None
        self.sent = asyncio.Event()

    async def publish(
        self, subject: str, payload: bytes, timeout: float, headers: dict[str, str]
    ) -> PubAck:
        self.ack = asyncio.get_running_loop().create_future()
        self.sent.set()
        return await asyncio.wait_for(self.ack, timeout)  # as nats-py's request does


class Ping(Event):
    type: str = "test.ping"


@pytest.mark.parametrize("chained", [True, False])
async def test_a_cancel_landing_on_the_acknowledgement_is_not_lost(
    monkeypatch: pytest.MonkeyPatch, chained: bool
) -> None:
    monkeypatch.setattr(chain, "ENABLED", chained)
    if chained:  # a head already known here: the publish is the one request to the store
        monkeypatch.setitem(chain._HEADS, "t.ping", chain.Head(1, chain.GENESIS))

        async def anchored(*_: object) -> None:
            return None

        monkeypatch.setattr(chain, "anchor_head", anchored)
    js = AckedLater()
    task = asyncio.create_task(
        publish_event(cast(JetStreamContext, js), "t.ping", Ping(aggregate_id="a"))
    )
    await js.sent.wait()
    assert js.ack is not None
    js.ack.set_result(PubAck(stream="T", seq=2))
    task.cancel()  # before the publishing task has seen its acknowledgement
    await asyncio.wait({task})
    assert task.cancelled()  # not: finished with the acknowledgement, as if never cancelled
