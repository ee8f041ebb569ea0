"""Events of the comparison aggregate (side-by-side compare and arena votes): one NATS subject
per comparison, in the compare stream.

A comparison's panes are ordinary chat sessions (their messages, usage and projection work
unchanged); these events only tie them together. `previous_seq` chains a comparison's events as
`ChatEvent.previous_seq` chains a session's. In blind mode the panes are stored already shuffled,
so their order says nothing about which model is which.
"""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from cortex_contracts.envelope import Event

MIN_PANES, MAX_PANES = 2, 4
VoteChoice = Literal["pane", "tie", "bad"]  # a preferred pane; a tie; all answers bad


class Sampling(BaseModel):
    """A pane's sampling settings (None: the model's default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)


class Pane(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    session_id: str
    model_name: str
    engine_type: str
    sampling: Sampling = Sampling()


class ComparisonEvent(Event):
    previous_seq: int = Field(ge=0)


class ComparisonCreated(ComparisonEvent):
    type: Literal["compare.created"] = "compare.created"
    title: str
    blind: bool = False
    panes: list[Pane] = Field(min_length=MIN_PANES, max_length=MAX_PANES)
    system_prompt: str | None = None
    from_session_id: str | None = None  # prefilled from this chat (see docs/compare.md)


class TurnAdded(ComparisonEvent):
    """The user sent `prompt` to every pane (turn numbers start at 1)."""

    type: Literal["compare.turn.added"] = "compare.turn.added"
    turn: int = Field(ge=1)
    prompt: str
    sampling: list[Sampling] = Field(default=[], max_length=MAX_PANES)  # per pane, as sent


class VoteCast(ComparisonEvent):
    """The user's verdict on one turn; a later vote on the same turn replaces it. `models` are
    the panes' models in pane order, so the leaderboard needs nothing else."""

    type: Literal["compare.vote.cast"] = "compare.vote.cast"
    turn: int = Field(ge=1)
    choice: VoteChoice
    pane: int | None = Field(default=None, ge=0, lt=MAX_PANES)
    models: list[str] = Field(min_length=MIN_PANES, max_length=MAX_PANES)
    blind: bool = False  # cast while the models were hidden


class ComparisonDeleted(ComparisonEvent):
    type: Literal["compare.deleted"] = "compare.deleted"


AnyComparisonEvent = Annotated[
    ComparisonCreated | TurnAdded | VoteCast | ComparisonDeleted,
    Field(discriminator="type"),
]
comparison_event_adapter: TypeAdapter[AnyComparisonEvent] = TypeAdapter(AnyComparisonEvent)


def parse_comparison_event(data: bytes) -> AnyComparisonEvent:
    return comparison_event_adapter.validate_json(data)


def pane_label(index: int) -> str:
    """ "Model A", "Model B", ...: how a pane is named while its model is hidden."""
    return f"Model {chr(ord('A') + index)}"
