"""A comparison's current state, folded from its own subject in the compare stream.

A comparison has few events (its creation, one per turn, one per vote), so the whole subject is
read with direct gets; unreadable events (parked by the projection) are skipped.
"""

from dataclasses import dataclass, field

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from cortex_contracts.events.compare import (
    ComparisonCreated,
    ComparisonDeleted,
    TurnAdded,
    VoteCast,
    parse_comparison_event,
)
from cortex_contracts.topology import Topology

MAX_EVENTS = 10_000  # a bound on one read, far above what a person does in one comparison


@dataclass
class Comparison:
    created: ComparisonCreated
    last_seq: int  # of the subject's newest event: the expected last sequence of a write
    turns: list[TurnAdded] = field(default_factory=list)
    votes: dict[int, VoteCast] = field(default_factory=dict)  # by turn
    deleted: bool = False

    @property
    def id(self) -> str:
        return self.created.aggregate_id

    @property
    def models(self) -> list[str]:
        return [pane.model_name for pane in self.created.panes]

    @property
    def hidden(self) -> bool:
        """Blind, and no vote yet: the models are not shown (arena style)."""
        return self.created.blind and not self.votes


async def load_comparison(
    js: JetStreamContext, topology: Topology, user_id: str, comparison_id: str
) -> Comparison | None:
    subject = topology.compare_subject(user_id, comparison_id)
    comparison: Comparison | None = None
    seq = 1
    for _ in range(MAX_EVENTS):
        try:
            message = await js.get_msg(
                topology.compare_stream, seq=seq, subject=subject, next=True, direct=True
            )
        except NotFoundError:
            break
        seq = int(message.seq or 0) + 1
        if comparison is not None:
            comparison.last_seq = seq - 1
        try:
            event = parse_comparison_event(message.data or b"")
        except ValidationError:
            continue
        if isinstance(event, ComparisonCreated):
            if comparison is None:
                comparison = Comparison(created=event, last_seq=seq - 1)
            continue
        if comparison is None:
            continue
        if isinstance(event, TurnAdded):
            comparison.turns.append(event)
        elif isinstance(event, VoteCast):
            comparison.votes[event.turn] = event
        elif isinstance(event, ComparisonDeleted):
            comparison.deleted = True
    return comparison
