"""Queries answered by the sessions service over NATS request-reply."""

from cortex_contracts.messages.sessions import GetSession, ListSessions
from cortex_contracts.topology import Topology
from cortex_runtime.query import QueryClient


class SessionQueries:
    """Answers are passed on as JSON without being parsed again: `SessionPage` for a list,
    `SessionView` for a session (see `cortex_contracts.messages.sessions`)."""

    def __init__(self, client: QueryClient, topology: Topology, timeout: float) -> None:
        self.client = client
        self.topology = topology
        self.timeout = timeout

    async def list(self, query: ListSessions) -> bytes:
        subject = self.topology.sessions_list_subject
        return await self.client.ask(subject, query, timeout=self.timeout, service="sessions")

    async def get(self, query: GetSession) -> bytes:
        subject = self.topology.sessions_get_subject
        return await self.client.ask(subject, query, timeout=self.timeout, service="sessions")
