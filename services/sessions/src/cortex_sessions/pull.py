"""A continuous pull from a durable JetStream consumer: each message as soon as it exists.

nats-py's `fetch(n)` waits, once the first message of an idle period arrives, until n messages
came or the timeout passed: a lone write would wait a whole second to be projected. Here one pull
request is kept open (`batch` messages, `expires` long, with heartbeats) and every message is
handed over the moment it arrives; a new request goes out when the last one is used up or ends.
"""

import asyncio
import json
from collections.abc import AsyncGenerator

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError

EXPIRES_SEC = 5.0
HEARTBEAT_SEC = 1.0
CONSUMER_TROUBLE_PAUSE_SEC = 0.5


async def pull_messages(
    nats: NatsClient, stream: str, consumer: str, batch: int
) -> AsyncGenerator[Msg, None]:
    """Messages of the consumer forever (the caller acks them); stop by leaving the loop."""
    inbox = nats.new_inbox()
    subscription = await nats.subscribe(inbox)
    request_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
    request = json.dumps(
        {
            "batch": batch,
            "expires": int(EXPIRES_SEC * 1e9),
            "idle_heartbeat": int(HEARTBEAT_SEC * 1e9),
        }
    ).encode()
    try:
        while True:
            await nats.publish(request_subject, request, reply=inbox)
            received = 0
            while received < batch:
                try:
                    msg = await subscription.next_msg(timeout=HEARTBEAT_SEC * 3)
                except (NatsTimeoutError, TimeoutError):
                    break  # no heartbeat either: the request was lost (reconnect); ask again
                status = (msg.headers or {}).get("Status")
                if status == "100":  # heartbeat: the request is still open
                    continue
                if status is not None:  # 404/408 request done or expired, 409 consumer trouble
                    if status == "409":
                        await asyncio.sleep(CONSUMER_TROUBLE_PAUSE_SEC)
                    break
                received += 1
                yield msg
    finally:
        await subscription.unsubscribe()
