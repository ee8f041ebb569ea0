"""Queries the gateway sends to the sessions service about comparisons (side-by-side compare)."""

from datetime import datetime

from pydantic import BaseModel, Field

from cortex_contracts.events.compare import VoteChoice


class ComparisonSummary(BaseModel):
    """`models` is None while a blind comparison has no vote (the models stay hidden)."""

    id: str
    title: str
    blind: bool
    models: list[str] | None
    pane_count: int
    turn_count: int
    vote_count: int
    created_at: datetime
    updated_at: datetime


class ListComparisons(BaseModel):
    """Answered with a `ComparisonPage`: the user's comparisons, newest activity first."""

    user_id: str
    limit: int = Field(default=100, ge=1, le=500)
    min_seq: int = Field(default=0, ge=0, description="answer only once the projection reached it")


class ComparisonPage(BaseModel):
    comparisons: list[ComparisonSummary]


class VoteRecord(BaseModel):
    models: list[str]
    choice: VoteChoice
    pane: int | None = None
    blind: bool = False


class ListVotes(BaseModel):
    """Answered with a `VotePage`: every vote of the user's live comparisons (all users' when
    `user_id` is None: the admin's leaderboard)."""

    user_id: str | None = None
    min_seq: int = Field(default=0, ge=0, description="answer only once the projection reached it")


class VotePage(BaseModel):
    votes: list[VoteRecord]
