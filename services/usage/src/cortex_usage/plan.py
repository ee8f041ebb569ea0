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


@dataclass
class Plan:
    days: list[datetime] = field(default_factory=list)
    hours: list[datetime] = field(default_factory=list)
    raw: list[tuple[datetime, datetime]] = field(default_factory=list)

    def read_raw(self, start: datetime, end: datetime) -> None:
        if start >= end:
            return
        if self.raw and self.raw[-1][1] == start:
            self.raw[-1] = (self.raw[-1][0], end)
        else:
            self.raw.append((start, end))


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
        result.read_raw(start, end)
        return result
    result.read_raw(start, first_hour)
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
            result.days.append(hour)
            hour = day_end
            continue
        if hour in dirty_hours:
            result.read_raw(hour, hour + HOUR)
        else:
            result.hours.append(hour)
        hour += HOUR
    result.read_raw(end_hour, end)
    return result
