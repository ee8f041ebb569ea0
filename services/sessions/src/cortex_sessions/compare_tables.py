"""The comparisons projection (side-by-side compare): what the list and the leaderboard read.

`comparisons.last_seq` is the position of the comparison's newest applied event: a redelivered
event is recognised and skipped. A deleted comparison keeps its row (`deleted`), so a redelivered
creation cannot bring it back; its votes go. `comparison_panes` names the chat sessions that are
panes of a comparison: the chat list leaves them out (they are listed as the comparison).
"""

from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.schema import Column, Index, MetaData, PrimaryKeyConstraint, Table
from sqlalchemy.types import BigInteger, Boolean, DateTime, Integer, String, Text, Uuid

from cortex_sessions.tables import metadata


def comparison_tables(meta: MetaData) -> tuple[Table, Table, Table]:
    comparisons = Table(
        "comparisons",
        meta,
        Column("id", Uuid, primary_key=True),
        Column("user_id", String(36), nullable=False),
        Column("title", Text, nullable=False),
        Column("blind", Boolean, nullable=False),
        Column("models", JSONB, nullable=False),  # in pane order
        Column("turn_count", Integer, nullable=False),
        Column("vote_count", Integer, nullable=False),
        Column("deleted", Boolean, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        Column("last_seq", BigInteger, nullable=False),
        Index("ix_comparisons_user_recent", "user_id", "updated_at", "id"),
    )
    panes = Table(
        "comparison_panes",
        meta,
        Column("session_id", Uuid, primary_key=True),
        Column("comparison_id", Uuid, nullable=False),
    )
    votes = Table(
        "comparison_votes",
        meta,
        Column("comparison_id", Uuid, nullable=False),
        Column("turn", Integer, nullable=False),
        Column("user_id", String(36), nullable=False),
        Column("models", JSONB, nullable=False),
        Column("choice", String(8), nullable=False),
        Column("pane", Integer),
        Column("blind", Boolean, nullable=False),
        Column("seq", BigInteger, nullable=False),
        PrimaryKeyConstraint("comparison_id", "turn"),
        Index("ix_comparison_votes_user", "user_id"),
    )
    return comparisons, panes, votes


comparisons, comparison_panes, comparison_votes = comparison_tables(metadata)
