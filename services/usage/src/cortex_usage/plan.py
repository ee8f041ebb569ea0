"""Which store answers which part of a time range.

Whole days and hours that are rolled up come from `usage_daily` and `usage_hourly`; the rest (the
partial hours at the range's ends, and hours with records not rolled up yet) from the records.
Every instant of the range is read from exactly one of the three.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    floored = floor_hour(moment)
    return floored if floored == moment else floored + HOUR


Span = tuple[datetime, datetime]


def _extend(spans: list[Span], start: datetime, end: datetime) -> None:
    if start >= end:
        return
    if spans and spans[-1][1] == start:
        spans[-1] = (spans[-1][0], end)
    else:
        spans.append((start, end))


@dataclass
class Plan:
    """Each a list of [start, end) spans, adjacent ones joined."""

    days: list[Span] = field(default_factory=list)
    hours: list[Span] = field(default_factory=list)
    raw: list[Span] = field(default_factory=list)


def plan(
    start: datetime,
    end: datetime,
    dirty_hours: set[datetime],
    dirty_days: set[datetime],
    use_days: bool,
) -> Plan:
    """`dirty_hours`: hours with records not rolled up yet; `dirty_days`: days whose daily rows
    are not up to date with their hours. Times are UTC; `use_days` is False for a per-hour answer.
    """
    result = Plan()
    first_hour, end_hour = ceil_hour(start), floor_hour(end)
    if first_hour >= end_hour:
        _extend(result.raw, start, end)
        return result
    _extend(result.raw, start, first_hour)
    hour = first_hour
    while hour < end_hour:
        day_end = hour + DAY
        if (
            use_days
            and hour.hour == 0
            and day_end <= end_hour
            and hour not in dirty_days
            and not any(hour + i * HOUR in dirty_hours for i in range(24))
        ):
            _extend(result.days, hour, day_end)
            hour = day_end
            continue
        _extend(result.raw if hour in dirty_hours else result.hours, hour, hour + HOUR)
        hour += HOUR
    _extend(result.raw, end_hour, end)
    return result
