"""Answers to the gateway's comparison queries (the list, the votes for the leaderboard), once
the comparisons projection has caught up with the caller's last write; from the read replica
when one is configured and shows that write (cortex_sessions.replica)."""

from dataclasses import dataclass, field

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from cortex_contracts.messages import ErrorReply
from cortex_contracts.messages.compare import (
    ComparisonPage,
    ComparisonSummary,
    ListComparisons,
    ListVotes,
    VotePage,
    VoteRecord,
)
from cortex_contracts.topology import Topology
from cortex_sessions.compare_tables import comparison_votes, comparisons
from cortex_sessions.replica import ReadReplica, read_engine, wait_until

SUMMARY = (
    comparisons.c.id,
    comparisons.c.title,
    comparisons.c.blind,
    comparisons.c.models,
    comparisons.c.turn_count,
    comparisons.c.vote_count,
    comparisons.c.created_at,
    comparisons.c.updated_at,
)
NOT_CAUGHT_UP = ErrorReply(
    error="Your latest change is still being saved. Retry in a moment.", status=503, retry_after=1
)


@dataclass
class ComparisonQueries:
    engine: AsyncEngine
    js: JetStreamContext
    topology: Topology
    timeout: float
    replica: ReadReplica | None = None
    _known_floor: int = field(default=0, init=False)

    async def list(self, query: ListComparisons) -> ComparisonPage | ErrorReply:
        if not await self._caught_up(query.min_seq):
            return NOT_CAUGHT_UP
        statement = (
            select(*SUMMARY)
            .where(comparisons.c.user_id == query.user_id, comparisons.c.deleted.is_(False))
            .order_by(comparisons.c.updated_at.desc(), comparisons.c.id.desc())
            .limit(query.limit)
        )
        async with (await read_engine(self.engine, self.replica, query.min_seq)).connect() as conn:
            rows = (await conn.execute(statement)).all()
        return ComparisonPage(
            comparisons=[
                ComparisonSummary(
                    id=str(row.id),
                    title=row.title,
                    blind=row.blind,
                    # a blind comparison shows its models once it has a vote
                    models=None if row.blind and row.vote_count == 0 else list(row.models),
                    pane_count=len(row.models),
                    turn_count=row.turn_count,
                    vote_count=row.vote_count,
                    created_at=row.created_at,
                    updated_at=row.updated_at,
                )
                for row in rows
            ]
        )

    async def votes(self, query: ListVotes) -> VotePage | ErrorReply:
        if not await self._caught_up(query.min_seq):
            return NOT_CAUGHT_UP
        statement = select(
            comparison_votes.c.models,
            comparison_votes.c.choice,
            comparison_votes.c.pane,
            comparison_votes.c.blind,
        ).order_by(comparison_votes.c.seq)
        if query.user_id is not None:
            statement = statement.where(comparison_votes.c.user_id == query.user_id)
        async with (await read_engine(self.engine, self.replica, query.min_seq)).connect() as conn:
            rows = (await conn.execute(statement)).all()
        return VotePage(
            votes=[
                VoteRecord(models=list(r.models), choice=r.choice, pane=r.pane, blind=r.blind)
                for r in rows
            ]
        )

    async def _caught_up(self, min_seq: int) -> bool:
        return min_seq == 0 or await wait_until(lambda: self._projected_through(min_seq),
                                                self.timeout)  # fmt: skip

    async def _projected_through(self, seq: int) -> bool:
        if self._known_floor >= seq:
            return True
        try:
            info = await self.js.consumer_info(
                self.topology.compare_stream, self.topology.comparisons_consumer
            )
        except NotFoundError:
            return False
        floor = int(info.ack_floor.stream_seq or 0) if info.ack_floor else 0
        self._known_floor = max(self._known_floor, floor)
        return self._known_floor >= seq
