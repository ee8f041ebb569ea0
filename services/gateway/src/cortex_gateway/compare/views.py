"""Request and answer bodies of the comparison API (/v1/comparisons, the leaderboards)."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field, field_validator

from cortex_contracts.events.compare import MAX_PANES, MIN_PANES, Sampling, VoteChoice
from cortex_contracts.messages.sessions import MessageView
from cortex_contracts.storable import text_problem
from cortex_gateway.openapi import NO_NUL

MAX_PREFILL_MESSAGES = 500


def storable(value: str | None) -> str | None:
    """The sessions projection stores only what passes these checks (cortex_contracts.storable)."""
    problem = None if value is None else text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


class PaneRequest(BaseModel):
    model_name: str = Field(min_length=1, max_length=200)
    sampling: Sampling = Sampling()


class PrefillMessage(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(json_schema_extra=NO_NUL)

    _storable = field_validator("content")(storable)


class CreateComparison(BaseModel):
    """2 to 4 panes: different models, or one model with different sampling settings.
    `messages` (a conversation so far, e.g. from a chat: `from_session_id`) seed every pane."""

    title: str | None = Field(default=None, max_length=200, json_schema_extra=NO_NUL)
    blind: bool = False
    panes: list[PaneRequest] = Field(min_length=MIN_PANES, max_length=MAX_PANES)
    system_prompt: str | None = Field(default=None, max_length=100_000, json_schema_extra=NO_NUL)
    messages: list[PrefillMessage] = Field(default=[], max_length=MAX_PREFILL_MESSAGES)
    from_session_id: UUID | None = None

    _storable = field_validator("title", "system_prompt")(storable)


class AddTurn(BaseModel):
    prompt: str = Field(min_length=1, json_schema_extra=NO_NUL)
    sampling: list[Sampling] = Field(default=[], max_length=MAX_PANES)

    _storable = field_validator("prompt")(storable)


class CastVote(BaseModel):
    """`choice` 'pane' with the preferred `pane` (0-based); 'tie'; or 'bad' (all answers bad)."""

    turn: int = Field(ge=1)
    choice: VoteChoice
    pane: int | None = Field(default=None, ge=0, lt=MAX_PANES)


class VoteView(BaseModel):
    turn: int
    choice: VoteChoice
    pane: int | None = None
    cast_at: datetime


class TurnView(BaseModel):
    turn: int
    prompt: str
    vote: VoteView | None = None


class PaneView(BaseModel):
    """`model_name` and `engine_type` are None while a blind comparison has no vote."""

    index: int
    label: str
    session_id: str
    model_name: str | None
    engine_type: str | None
    sampling: Sampling
    messages: list[MessageView]


class ComparisonView(BaseModel):
    id: str
    title: str
    blind: bool
    hidden: bool = Field(description="blind and not voted yet: the models are not named")
    system_prompt: str | None
    from_session_id: str | None
    created_at: datetime
    updated_at: datetime
    panes: list[PaneView]
    turns: list[TurnView]


class LeaderboardEntry(BaseModel):
    model: str
    score: float = Field(description="Bradley-Terry rating on the Elo scale (mean 1000)")
    ci_low: float = Field(description="2.5th percentile of the bootstrap ratings")
    ci_high: float = Field(description="97.5th percentile of the bootstrap ratings")
    battles: int
    wins: int
    ties: int
    losses: int


class PairCount(BaseModel):
    model_a: str
    model_b: str
    a_wins: int
    ties: int
    b_wins: int


class Leaderboard(BaseModel):
    scope: Literal["user", "all"]
    blind_only: bool
    votes: int
    battles: int
    bootstrap_rounds: int
    entries: list[LeaderboardEntry]
    pairs: list[PairCount]
