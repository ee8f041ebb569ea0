"""The responder: answers one query type on one subject, in a queue group, a bounded number at once.

nats-py directly rather than FastStream subscribers: an answer may need several messages (`wire`),
and the sessions list/get latency budget is a few milliseconds, of which FastStream's per-message
machinery took a noticeable part. Every service answers the same way:

- bad input (not JSON, or not the query type): a 400 `ErrorReply` at once, never silence;
- the handler's own `ErrorReply` (e.g. 404, 422): sent as it is;
- the handler failing (e.g. the database restarted): a 503 `ErrorReply` with a retry hint.

Error replies carry the `Cortex-Error` header; answers of any size are chunked.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import BaseModel, ValidationError

from cortex_contracts.messages import ErrorReply
from cortex_contracts.topology import Topology
from cortex_runtime.wire import ERROR_HEADER, send_reply

log = logging.getLogger(__name__)

Q = TypeVar("Q", bound=BaseModel)
Handler = Callable[[Q], Awaitable[BaseModel]]


@dataclass(frozen=True)
class Endpoint(Generic[Q]):
    """What a service answers: declared once, registered with `Context.answer`, documented in
    the AsyncAPI document from the same declaration."""

    title: str  # e.g. "sessions.list query"
    subject: Callable[[Topology], str]
    request: type[Q]
    replies: tuple[type[BaseModel], ...]
    description: str


def invalid_input(error: ValidationError) -> ErrorReply:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    detail = f"{where}: {first['msg']}" if where else first["msg"]
    return ErrorReply(error=f"Invalid query: {detail}", status=400)


class Responder(Generic[Q]):
    def __init__(
        self,
        nats: NatsClient,
        subject: str,
        request: type[Q],
        handler: Handler[Q],
        *,
        queue: str | None,
        workers: int,
        service: str,
    ) -> None:
        self.nats = nats
        self.subject = subject
        self.request = request
        self.handler = handler
        self.queue = queue
        self.service = service
        self._gate = asyncio.Semaphore(workers)
        self._running: set[asyncio.Task[None]] = set()
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        self._subscription = await self.nats.subscribe(
            self.subject, queue=self.queue or "", cb=self._on_query
        )

    async def stop(self) -> None:
        """No new queries; those being answered are finished."""
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            try:
                await subscription.unsubscribe()
            except Exception:  # the connection may already be gone
                log.debug("unsubscribing %s failed", self.subject, exc_info=True)
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
            query = self.request.model_validate_json(msg.data)
        except ValidationError as error:
            reply = invalid_input(error)
        else:
            try:
                reply = await self.handler(query)
            except Exception:
                log.exception("answering %s failed", self.subject)
                reply = ErrorReply(
                    error=f"The {self.service} service could not answer; retry.",
                    status=503,
                    retry_after=1,
                )
        if not msg.reply:
            return
        headers = {ERROR_HEADER: str(reply.status)} if isinstance(reply, ErrorReply) else None
        try:
            await send_reply(self.nats, msg.reply, reply.model_dump_json().encode(), headers)
        except Exception:  # the requester times out and answers 503
            log.exception("sending the answer to %s failed", self.subject)
