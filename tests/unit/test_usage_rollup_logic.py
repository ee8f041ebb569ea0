"""The pure parts of the usage rollups: histogram percentiles and the split of a time range."""

import itertools
import math
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cortex_usage.histogram import RELATIVE_ERROR, bucket_of, percentiles
from cortex_usage.plan import DAY, HOUR, plan

T0 = datetime(2026, 11, 1, tzinfo=UTC)
times_ms = st.floats(min_value=0.01, max_value=1e8, allow_nan=False)


def histogram_of(values: list[float]) -> bytes:
    """As PostgreSQL's int2send/int4send write it: big-endian (bucket, count) pairs."""
    counts: dict[int, int] = {}
    for value in values:
        counts[bucket_of(value)] = counts.get(bucket_of(value), 0) + 1
    return b"".join(
        bucket.to_bytes(2, "big", signed=True) + count.to_bytes(4, "big", signed=True)
        for bucket, count in counts.items()
    )


@given(st.lists(times_ms, min_size=1, max_size=300), st.sampled_from([0.5, 0.95, 0.99]))
def test_a_percentile_is_within_one_percent_of_the_nearest_rank_value(
    values: list[float], fraction: float
) -> None:
    exact = sorted(values)[max(1, math.ceil(fraction * len(values))) - 1]

    [reported] = percentiles(histogram_of(values), [fraction])

    assert reported is not None
    assert abs(reported - exact) <= RELATIVE_ERROR * exact * (1 + 1e-9)


@given(st.lists(times_ms, min_size=1, max_size=100), st.lists(times_ms, min_size=1, max_size=100))
def test_histograms_of_parts_add_up_to_the_histogram_of_the_whole(
    first: list[float], second: list[float]
) -> None:
    merged = histogram_of(first) + histogram_of(second)

    assert percentiles(merged, [0.5, 0.95]) == percentiles(
        histogram_of(first + second), [0.5, 0.95]
    )


def test_no_values_have_no_percentile() -> None:
    assert percentiles(None, [0.5, 0.95]) == [None, None]
    assert percentiles(b"", [0.5]) == [None]


def test_a_single_value_is_every_percentile() -> None:
    assert (
        percentiles(histogram_of([250.0]), [0.5, 0.95])
        == [percentiles(histogram_of([250.0]), [0.01])[0]] * 2
    )


offsets = st.integers(min_value=0, max_value=24 * 60 * 9)  # minutes within 9 days


@given(offsets, offsets, st.sets(st.integers(0, 24 * 9), max_size=20), st.booleans())
def test_every_instant_of_a_range_is_read_from_exactly_one_store(
    a: int, b: int, dirty: set[int], use_days: bool
) -> None:
    start, end = T0 + timedelta(minutes=min(a, b)), T0 + timedelta(minutes=max(a, b) + 1)
    dirty_hours = {T0 + i * HOUR for i in dirty}

    parts = plan(start, end, dirty_hours, set(), use_days)

    pieces = sorted(parts.days + parts.hours + parts.raw)
    assert pieces[0][0] == start and pieces[-1][1] == end
    assert all(left[1] == right[0] for left, right in itertools.pairwise(pieces))
    for first, last in parts.hours:
        assert not any(first <= hour < last for hour in dirty_hours), "marked: from records"
    for first, last in parts.days:
        assert first.hour == 0 and last.hour == 0
        assert not any(first <= hour < last for hour in dirty_hours)
    if not use_days:
        assert parts.days == []


def test_a_month_reads_whole_days_from_the_daily_rollup_and_only_its_ends_from_records() -> None:
    start, end = T0 + timedelta(hours=2, minutes=30), T0 + 30 * DAY + timedelta(minutes=10)

    parts = plan(start, end, dirty_hours={T0 + 40 * HOUR}, dirty_days={T0 + 5 * DAY}, use_days=True)

    day = T0 + DAY
    assert parts.days == [(T0 + 2 * DAY, T0 + 5 * DAY), (T0 + 6 * DAY, T0 + 30 * DAY)]
    assert parts.hours == [
        (T0 + 3 * HOUR, T0 + 40 * HOUR),  # the cut first day, then the second up to its mark
        (T0 + 41 * HOUR, day + DAY),
        (T0 + 5 * DAY, T0 + 6 * DAY),  # a day whose daily rows lag behind its hours
    ]
    assert parts.raw == [
        (start, T0 + 3 * HOUR),
        (T0 + 40 * HOUR, T0 + 41 * HOUR),
        (T0 + 30 * DAY, end),
    ]
