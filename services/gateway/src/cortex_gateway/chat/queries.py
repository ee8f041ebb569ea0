"""Queries answered by the sessions service over NATS request-reply."""

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import BaseModel

from cortex_contracts.messages import ErrorReply
from cortex_contracts.messages.sessions import GetSession, ListSessions
from cortex_contracts.runtime import replies
from cortex_contracts.topology import Topology
from cortex_gateway.nats_request import QueryFailed


async def _request(
    requester: replies.Requester, subject: str, query: BaseModel, timeout: float
) -> bytes:
    """The answer's JSON as the sessions service wrote it (it is the HTTP body as well)."""
    try:
        reply = await requester.request(subject, query.model_dump_json().encode(), timeout)
    except (NatsTimeout, NoRespondersError) as error:
        raise QueryFailed(
            ErrorReply(error="The sessions service is not answering.", status=503, retry_after=1)
        ) from error
    if replies.ERROR_HEADER in reply.headers:
        raise QueryFailed(ErrorReply.model_validate_json(reply.data))
    return reply.data


class SessionQueries:
    """Answers are passed on as JSON without being parsed again: `SessionPage` for a list,
    `SessionView` for a session (see `cortex_contracts.messages.sessions`)."""

    def __init__(self, requester: replies.Requester, topology: Topology, timeout: float) -> None:
        self.requester = requester
        self.topology = topology
        self.timeout = timeout

    async def list(self, query: ListSessions) -> bytes:
        subject = self.topology.sessions_list_subject
        return await _request(self.requester, subject, query, self.timeout)

    async def get(self, query: GetSession) -> bytes:
        subject = self.topology.sessions_get_subject
        return await _request(self.requester, subject, query, self.timeout)
