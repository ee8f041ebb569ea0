"""Summaries of records: per distinct key, request and error counts, token sums and histograms.

The same summary fills the rollup tables (keyed by hour or day and every dimension) and answers
the parts of a query that no rollup covers, so both give the same figures.
"""

from typing import Any

from sqlalchemy import (
    ColumnElement,
    LargeBinary,
    Select,
    String,
    Table,
    func,
    literal,
    select,
    tuple_,
)

from cortex_usage.histogram import bucket_sql, entry_sql

EMPTY = literal(b"", LargeBinary)


def utc_trunc(unit: str, moment: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.date_trunc(unit, moment, literal("UTC", String))


def record_summaries(
    records: Table, keys: list[ColumnElement[Any]], where: list[ColumnElement[bool]]
) -> Select[Any]:
    """One row per distinct `keys` (labelled key0, key1, ...), in one pass over the records.

    Two grouping sets share the scan: (keys, TTFT bucket) and (keys, latency bucket); every
    record is in both, so counts and sums come from the latency set alone.
    """
    r = records.c
    ttft_bucket, latency_bucket = bucket_sql(r.ttft_ms), bucket_sql(r.latency_ms)
    per_bucket = (
        select(
            *(key.label(f"key{i}") for i, key in enumerate(keys)),
            ttft_bucket.label("ttft_bucket"),
            latency_bucket.label("latency_bucket"),
            func.grouping(ttft_bucket).label("latency_set"),
            func.count().label("requests"),
            func.count().filter(r.status == "error").label("errors"),
            func.sum(r.prompt_tokens).label("prompt_tokens"),
            func.sum(r.completion_tokens).label("completion_tokens"),
            func.sum(r.total_tokens).label("total_tokens"),
        )
        .where(*where)
        .group_by(func.grouping_sets(tuple_(*keys, ttft_bucket), tuple_(*keys, latency_bucket)))
        .subquery("per_bucket")
    )
    b = per_bucket.c
    in_latency_set = b.latency_set == 1
    key_columns = [b[f"key{i}"] for i in range(len(keys))]
    return select(
        *key_columns,
        func.sum(b.requests).filter(in_latency_set).label("requests"),
        func.sum(b.errors).filter(in_latency_set).label("errors"),
        func.sum(b.prompt_tokens).filter(in_latency_set).label("prompt_tokens"),
        func.sum(b.completion_tokens).filter(in_latency_set).label("completion_tokens"),
        func.sum(b.total_tokens).filter(in_latency_set).label("total_tokens"),
        func.string_agg(entry_sql(b.ttft_bucket, b.requests), EMPTY)
        .filter(~in_latency_set, b.ttft_bucket.is_not(None))
        .label("ttft_histogram"),
        func.string_agg(entry_sql(b.latency_bucket, b.requests), EMPTY)
        .filter(in_latency_set)
        .label("latency_histogram"),
    ).group_by(*key_columns)
