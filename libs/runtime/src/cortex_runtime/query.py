"""The query client: asks a service over request-reply; every failure becomes `QueryFailed`.

One wildcard inbox subscription per client serves all its requests (as `nats.request` does), so a
request costs one publish, not a subscribe and an unsubscribe too. Replies of any size arrive in
chunks (`wire`). An error reply, no responder at all and a timeout all raise `QueryFailed` with an
`ErrorReply`: the service's own, or the one "not answering" 503 built here.
"""

import asyncio
import itertools
from typing import TypeVar

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from pydantic import BaseModel, ValidationError

from cortex_contracts.messages import ErrorReply
from cortex_runtime.wire import Answer, Reply

T = TypeVar("T", bound=BaseModel)
RETRY_AFTER_SEC = 1.0


class QueryFailed(Exception):
    """A query the responding service refused, or that nobody answered in time."""

    def __init__(self, reply: ErrorReply) -> None:
        super().__init__(reply.error)
        self.reply = reply


def not_answering(service: str) -> QueryFailed:
    return QueryFailed(
        ErrorReply(
            error=f"The {service} service is not answering.",
            status=503,
            retry_after=RETRY_AFTER_SEC,
        )
    )


class QueryClient:
    def __init__(self, nats: NatsClient) -> None:
        self.nats = nats
        self._prefix = nats.new_inbox()
        self._tokens = itertools.count()
        self._waiting: dict[str, Answer] = {}
        self._subscription: Subscription | None = None
        self._subscribing = asyncio.Lock()

    async def ask(self, subject: str, query: BaseModel, *, timeout: float, service: str) -> bytes:
        """The answer's JSON as the service wrote it (the gateway may pass it on unparsed)."""
        return await self.ask_raw(subject, query.model_dump_json().encode(), timeout, service)

    async def ask_for(
        self, subject: str, query: BaseModel, reply_type: type[T], *, timeout: float, service: str
    ) -> T:
        data = await self.ask(subject, query, timeout=timeout, service=service)
        try:
            return reply_type.model_validate_json(data)
        except ValidationError as error:
            raise QueryFailed(
                ErrorReply(error=f"The {service} service answered nonsense.", status=502)
            ) from error

    async def ask_raw(self, subject: str, payload: bytes, timeout: float, service: str) -> bytes:
        try:
            reply = await self.request(subject, payload, timeout)
        except (TimeoutError, NoRespondersError) as error:
            raise not_answering(service) from error
        if reply.error_status is not None:
            try:
                raise QueryFailed(ErrorReply.model_validate_json(reply.data))
            except ValidationError as error:
                raise QueryFailed(ErrorReply(error=reply.data.decode(errors="replace"))) from error
        return reply.data

    async def request(self, subject: str, payload: bytes, timeout: float) -> Reply:
        """The whole answer; raises TimeoutError or nats' NoRespondersError."""
        await self._subscribe()
        token = str(next(self._tokens))
        answer = self._waiting[token] = Answer()
        try:
            await self.nats.publish(subject, payload, reply=f"{self._prefix}.{token}")
            return await asyncio.wait_for(answer.done, timeout)
        finally:
            del self._waiting[token]

    async def close(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None

    async def _subscribe(self) -> None:
        if self._subscription is not None:
            return
        async with self._subscribing:
            if self._subscription is None:
                self._subscription = await self.nats.subscribe(
                    f"{self._prefix}.*", cb=self._on_message
                )

    async def _on_message(self, msg: Msg) -> None:
        answer = self._waiting.get(msg.subject.rpartition(".")[2])
        if answer is not None:  # else: an answer that came too late
            answer.add(msg)
