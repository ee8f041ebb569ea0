"""The projection: the owner's `chat_sessions` and `chat_messages`, plus bookkeeping.

`chat_sessions.last_seq` is the projection's position for that session, written in the same
transaction as the rows, so a redelivered event is recognised and skipped. `chat_messages.id` is
the stream sequence of the event that added the message: unique, increasing, and the same after a
rebuild. Deleted sessions leave a tombstone so that a redelivered creation is not resurrected.
`user_id` refers to the gateway's users, which live in another service: no foreign key.
"""

from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.schema import Column, ForeignKey, Index, MetaData, Table
from sqlalchemy.types import BigInteger, Boolean, DateTime, Integer, String, Text, Uuid

metadata = MetaData()


def chat_tables(meta: MetaData, suffix: str = "") -> tuple[Table, Table, Table]:
    """The three tables; `suffix` names the fresh copies a rebuild fills before swapping them in."""
    sessions = Table(
        f"chat_sessions{suffix}",
        meta,
        Column("id", Uuid, primary_key=True),
        Column("user_id", String(36), nullable=False),
        Column("title", Text, nullable=False),
        Column("auto_title", Boolean, nullable=False),
        Column("model_name", String(200), nullable=False),
        Column("engine_type", String(32), nullable=False),
        Column("constraints_json", JSONB),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        Column("message_count", Integer, nullable=False, default=0),
        Column("last_seq", BigInteger, nullable=False),
        Index(f"ix_chat_sessions{suffix}_user_recent", "user_id", "updated_at", "id"),
    )
    messages = Table(
        f"chat_messages{suffix}",
        meta,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column(
            "session_id",
            Uuid,
            ForeignKey(f"chat_sessions{suffix}.id", ondelete="CASCADE"),
            nullable=False,
        ),
        Column("role", String(16), nullable=False),
        Column("content", Text, nullable=False),
        Column("metrics_json", JSONB),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Index(f"ix_chat_messages{suffix}_session", "session_id", "id"),
    )
    tombstones = Table(
        f"chat_session_tombstones{suffix}",
        meta,
        Column("session_id", Uuid, primary_key=True),
        Column("user_id", String(36), nullable=False),
        Column("deleted_seq", BigInteger, nullable=False),
    )
    return sessions, messages, tombstones


chat_sessions, chat_messages, chat_session_tombstones = chat_tables(metadata)
