"""Core NATS subscriptions that are not queries: broadcasts every replica hears (e.g. an audit
event that invalidates a cache)."""

import contextlib
from collections.abc import Awaitable, Callable

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription


class Listening:
    def __init__(self, subscriptions: list[Subscription]) -> None:
        self._subscriptions = subscriptions

    async def stop(self) -> None:
        for subscription in self._subscriptions:
            with contextlib.suppress(Exception):  # the connection may already be gone
                await subscription.unsubscribe()
        self._subscriptions = []


async def listen(
    nats: NatsClient, subjects: list[str], on_message: Callable[[Msg], Awaitable[None]]
) -> Listening:
    return Listening([await nats.subscribe(subject, cb=on_message) for subject in subjects])
