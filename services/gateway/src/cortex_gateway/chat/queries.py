"""Queries answered by the sessions service over NATS request-reply."""

import json
from typing import TypeVar

from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import BaseModel

from cortex_contracts.messages import ErrorReply
from cortex_contracts.messages.sessions import (
    GetSession,
    ListSessions,
    SessionPage,
    SessionReply,
)
from cortex_contracts.runtime import replies
from cortex_contracts.topology import Topology

R = TypeVar("R", bound=BaseModel)


class QueryFailed(Exception):
    def __init__(self, reply: ErrorReply) -> None:
        super().__init__(reply.error)
        self.reply = reply


async def _request(
    nats: NatsClient, subject: str, query: BaseModel, reply_type: type[R], timeout: float
) -> R:
    try:
        answer = await replies.request(
            nats, subject, query.model_dump_json().encode(), timeout=timeout
        )
    except (NatsTimeout, NoRespondersError) as error:
        raise QueryFailed(
            ErrorReply(error="The sessions service is not answering.", status=503, retry_after=1)
        ) from error
    payload = json.loads(answer)
    if "error" in payload:
        raise QueryFailed(ErrorReply.model_validate(payload))
    return reply_type.model_validate(payload)


class SessionQueries:
    def __init__(self, nats: NatsClient, topology: Topology, timeout: float) -> None:
        self.nats = nats
        self.topology = topology
        self.timeout = timeout

    async def list(self, query: ListSessions) -> SessionPage:
        return await _request(
            self.nats, self.topology.sessions_list_subject, query, SessionPage, self.timeout
        )

    async def get(self, query: GetSession) -> SessionReply:
        return await _request(
            self.nats, self.topology.sessions_get_subject, query, SessionReply, self.timeout
        )
