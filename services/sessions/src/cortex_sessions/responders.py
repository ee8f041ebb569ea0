"""The query responders: core NATS subscriptions in the queue group `sessions`.

nats-py directly rather than FastStream subscribers: an answer may need several messages (see
`cortex_contracts.runtime.replies`), and the list/get latency budget is a few milliseconds, of
which FastStream's per-message machinery took a noticeable part.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import BaseModel, ValidationError

from cortex_contracts.messages import ErrorReply
from cortex_contracts.runtime.replies import ERROR_HEADER, send_reply

log = logging.getLogger(__name__)

QUEUE_GROUP = "sessions"
Q = TypeVar("Q", bound=BaseModel)


class Responder(Generic[Q]):
    """Answers queries of one type on one subject, at most `workers` at a time."""

    def __init__(
        self,
        nats: NatsClient,
        subject: str,
        query_type: type[Q],
        answer: Callable[[Q], Awaitable[BaseModel]],
        workers: int,
    ) -> None:
        self.nats = nats
        self.subject = subject
        self.query_type = query_type
        self.answer = answer
        self._gate = asyncio.Semaphore(workers)
        self._running: set[asyncio.Task[None]] = set()
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        self._subscription = await self.nats.subscribe(
            self.subject, queue=QUEUE_GROUP, cb=self._on_query
        )

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
        await asyncio.gather(*self._running, return_exceptions=True)

    async def _on_query(self, msg: Msg) -> None:
        await self._gate.acquire()  # the subscription waits here: back pressure
        task = asyncio.create_task(self._reply(msg))
        self._running.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._gate.release()

    async def _reply(self, msg: Msg) -> None:
        reply: BaseModel
        try:
            reply = await self.answer(self.query_type.model_validate_json(msg.data))
        except ValidationError as error:
            reply = ErrorReply(error=f"Invalid query: {error.errors()[0]['msg']}", status=400)
        except Exception:  # e.g. the database restarted: this connection is gone, retry
            log.exception("answering %s failed", self.subject)
            reply = ErrorReply(
                error="The sessions store is unavailable.", status=503, retry_after=1
            )
        if not msg.reply:
            return
        headers = {ERROR_HEADER: str(reply.status)} if isinstance(reply, ErrorReply) else None
        try:
            await send_reply(self.nats, msg.reply, reply.model_dump_json().encode(), headers)
        except Exception:  # the requester times out and answers 503
            log.exception("sending the answer to %s failed", self.subject)
