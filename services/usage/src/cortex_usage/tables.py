"""The usage store: one row per completion, plus the consumer's position.

`event_id` is the primary key, so a redelivered or re-published event is a no-op
(`INSERT ... ON CONFLICT DO NOTHING`). `stream_seq` is the event's sequence in the usage stream and
`usage_position` the highest one applied, written in the same transaction as the rows.
Free text is `Text` and numbers `BigInteger`: an odd but valid event must never fail to insert.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
)

metadata = MetaData()


def usage_tables(meta: MetaData, suffix: str = "") -> tuple[Table, Table]:
    """Both tables; `suffix` names the fresh copies a rebuild fills before swapping them in."""
    records = Table(
        f"usage_records{suffix}",
        meta,
        Column("event_id", Uuid, nullable=False),
        Column("completion_id", Text, nullable=False),
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        Column("user_id", Text),
        Column("org_id", Text),
        Column("api_key_id", Text),
        Column("model", Text, nullable=False),
        Column("engine_type", Text, nullable=False),
        Column("source", Text, nullable=False),
        Column("stream", Boolean, nullable=False),
        Column("status", Text, nullable=False),
        Column("error", Text),
        Column("finish_reason", Text),
        Column("http_status", BigInteger, nullable=False),
        Column("prompt_tokens", BigInteger, nullable=False),
        Column("completion_tokens", BigInteger, nullable=False),
        Column("total_tokens", BigInteger, nullable=False),
        Column("ttft_ms", Double),
        Column("latency_ms", Double, nullable=False),
        Column("decode_tokens_per_s", Double),
        Column("chat_session_id", Text),
        Column("stream_seq", BigInteger, nullable=False),
        PrimaryKeyConstraint("event_id", name=f"pk_usage_records{suffix}"),
        # Newest-first listing and its keyset cursor, and every time-range query.
        Index(f"ix_usage_records{suffix}_time", "occurred_at", "event_id"),
        Index(f"ix_usage_records{suffix}_model_time", "model", "occurred_at"),
        Index(f"ix_usage_records{suffix}_user_time", "user_id", "occurred_at"),
        Index(f"ix_usage_records{suffix}_org_time", "org_id", "occurred_at"),
    )
    position = Table(
        f"usage_position{suffix}",
        meta,
        Column("consumer", Text, nullable=False),
        Column("stream_seq", BigInteger, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("consumer", name=f"pk_usage_position{suffix}"),
    )
    return records, position


usage_records, usage_position = usage_tables(metadata)
