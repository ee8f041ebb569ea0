"""Percentiles from log-scaled histograms (the DDSketch bucket scheme).

A time in milliseconds falls in bucket `ceil(ln(ms) / ln(GAMMA))`, which spans
(GAMMA^(i-1), GAMMA^i] and is reported as `2 GAMMA^i / (GAMMA + 1)`: every value of the bucket is
within `RELATIVE_ERROR` (just under 1 %) of that. Histograms of any parts of the data add up, so
hourly and daily rollups answer month-long ranges without reading every record.

A histogram travels as bytes: (bucket int16, count int32) pairs, big-endian (PostgreSQL's
`int2send`/`int4send`), a bucket possibly repeated. Concatenating two histograms merges them.
"""

import math
from collections.abc import Sequence

import numpy as np
from sqlalchemy import ColumnElement, Integer, SmallInteger, case, cast, func, literal, null

GAMMA = 1.02
RELATIVE_ERROR = (GAMMA - 1) / (GAMMA + 1)
LN_GAMMA = math.log(GAMMA)
# Times are clamped into this range, so that every bucket fits in an int16.
MIN_MS = 0.01
MAX_MS = 1e9
MIN_BUCKET = math.ceil(math.log(MIN_MS) / LN_GAMMA)
ENTRY = np.dtype([("bucket", ">i2"), ("count", ">i4")])


def bucket_of(ms: float) -> int:
    """The bucket of one time (the SQL below computes the same)."""
    return math.ceil(math.log(min(max(ms, MIN_MS), MAX_MS)) / LN_GAMMA)


def value_of(bucket: int) -> float:
    return 2 * GAMMA**bucket / (GAMMA + 1)


def bucket_sql(ms: ColumnElement[float]) -> ColumnElement[int | None]:
    """NULL for a missing time (PostgreSQL's greatest/least would skip the NULL, not keep it)."""
    clamped = func.least(func.greatest(ms, literal(MIN_MS)), literal(MAX_MS))
    bucket = cast(func.ceil(func.ln(clamped) / literal(LN_GAMMA)), SmallInteger)
    return case((ms.is_(None), null()), else_=bucket)


def entry_sql(bucket: ColumnElement[int], count: ColumnElement[int]) -> ColumnElement[bytes]:
    """One (bucket, count) pair as bytes; `string_agg` of these is a histogram."""
    return func.int2send(bucket).op("||")(func.int4send(cast(count, Integer)))


def percentiles(histogram: bytes | None, quantiles: Sequence[float]) -> list[float | None]:
    """Nearest-rank percentiles: for q, the value at rank ceil(q * n) of the n values counted."""
    if not histogram:
        return [None for _ in quantiles]
    entries = np.frombuffer(histogram, dtype=ENTRY)
    counts = np.bincount(entries["bucket"] - MIN_BUCKET, weights=entries["count"])
    cumulative = np.cumsum(counts)
    total = cumulative[-1]
    if total <= 0:
        return [None for _ in quantiles]
    answers: list[float | None] = []
    for q in quantiles:
        rank = max(1, math.ceil(q * total - 1e-9))
        index = int(np.searchsorted(cumulative, rank))
        answers.append(value_of(index + MIN_BUCKET))
    return answers
