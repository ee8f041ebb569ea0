"""The usage store: one row per completion, plus the consumer's position.

`event_id` is the primary key, so a redelivered or re-published event is a no-op
(`INSERT ... ON CONFLICT DO NOTHING`). `stream_seq` is the event's sequence in the usage stream and
`usage_position` the highest one applied, written in the same transaction as the rows.
Free text is `Text` and numbers `BigInteger`: an odd but valid event must never fail to insert.
"""

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Index,
    LargeBinary,
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


SUMMARY_DIMENSIONS = ("model", "user_id", "org_id", "source", "status")
TOTALS_DIMENSIONS = ("source", "status")
SUMMARY_COLUMNS = (
    "requests", "errors", "prompt_tokens", "completion_tokens", "total_tokens",
    "ttft_histogram", "latency_histogram",
)  # fmt: skip


def dimensions_of(summary: Table) -> list[str]:
    return [name for name in SUMMARY_DIMENSIONS if name in summary.c]


def mark_every_recorded_hour(dirty_hours: str = "usage_dirty_hours") -> str:
    """SQL that marks each hour holding records, so the rollup summarises it (after a load that
    bypassed the recorder, or when the rollups first appear)."""
    return (
        f"INSERT INTO {dirty_hours} (hour, marked_at)"
        " SELECT DISTINCT date_trunc('hour', occurred_at, 'UTC'), now() FROM usage_records"
        " ON CONFLICT (hour) DO NOTHING"
    )


def _summary_table(
    name: str, meta: MetaData, time_column: str, dimensions: tuple[str, ...]
) -> Table:
    """Records of one hour or day with the same dimensions: counts, token sums, histograms."""
    nullable = {"user_id", "org_id"}
    return Table(
        name,
        meta,
        Column(time_column, DateTime(timezone=True), nullable=False),
        *(Column(name, Text, nullable=name in nullable) for name in dimensions),
        Column("requests", BigInteger, nullable=False),
        Column("errors", BigInteger, nullable=False),
        Column("prompt_tokens", BigInteger, nullable=False),
        Column("completion_tokens", BigInteger, nullable=False),
        Column("total_tokens", BigInteger, nullable=False),
        Column("ttft_histogram", LargeBinary),
        Column("latency_histogram", LargeBinary, nullable=False),
        Index(f"ix_{name}_{time_column}", time_column),
    )


@dataclass(frozen=True)
class RollupTables:
    """Pre-aggregated records (see `rollup`), and what is not rolled up yet.

    `hourly_totals` is `hourly` without model, user and org: a month per hour over everyone reads
    720 rows of it instead of ~100,000. `dirty_hours` holds every hour with records newer than its
    hourly rows (written in the same transaction as the records); `dirty_days` every day whose
    `daily` rows lag behind its hours.
    """

    hourly: Table
    hourly_totals: Table
    daily: Table
    dirty_hours: Table
    dirty_days: Table


def rollup_tables(meta: MetaData, suffix: str = "") -> RollupTables:
    return RollupTables(
        hourly=_summary_table(f"usage_hourly{suffix}", meta, "hour", SUMMARY_DIMENSIONS),
        hourly_totals=_summary_table(
            f"usage_hourly_totals{suffix}", meta, "hour", TOTALS_DIMENSIONS
        ),
        daily=_summary_table(f"usage_daily{suffix}", meta, "day", SUMMARY_DIMENSIONS),
        dirty_hours=Table(
            f"usage_dirty_hours{suffix}",
            meta,
            Column("hour", DateTime(timezone=True), nullable=False),
            Column("marked_at", DateTime(timezone=True), nullable=False),
            PrimaryKeyConstraint("hour", name=f"pk_usage_dirty_hours{suffix}"),
        ),
        dirty_days=Table(
            f"usage_dirty_days{suffix}",
            meta,
            Column("day", DateTime(timezone=True), nullable=False),
            PrimaryKeyConstraint("day", name=f"pk_usage_dirty_days{suffix}"),
        ),
    )


usage_records, usage_position = usage_tables(metadata)
rollups = rollup_tables(metadata)
