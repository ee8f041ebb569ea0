"""Rolls records up into `usage_hourly` (and its totals) and `usage_daily`, so that long ranges
answer quickly.

The recorder marks the hours it writes in (`usage_dirty_hours`, same transaction as the records).
Here, an hour no record arrived in for `settle_sec` is summarised again from its records and its
mark removed, in one transaction; its day is then marked for `usage_daily`, which is summarised
once none of its hours is marked. Queries read marked hours from the records, so an answer never
depends on how far the rollup has got. Replicas share the work: marks are taken with
`FOR UPDATE SKIP LOCKED`, and the recorder's mark (an upsert, which locks the row) makes a rollup
of that hour wait for the records' commit, so none is missed.
"""

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    delete,
    exists,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cortex_usage.plan import DAY, HOUR
from cortex_usage.summaries import record_summaries, utc_trunc
from cortex_usage.tables import SUMMARY_COLUMNS, RollupTables, dimensions_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rollup:
    engine: AsyncEngine
    records: Table
    tables: RollupTables
    settle_sec: float
    work_mem: str

    async def run_once(self) -> tuple[int, int]:
        """Rolls up every quiet marked hour, then every day that is ready: (hours, days)."""
        hours = days = 0
        for day in await self._days_with_quiet_hours():
            hours += await self._roll_hours_of(day)
        while await self._roll_next_day() is not None:
            days += 1
        return hours, days

    async def _days_with_quiet_hours(self) -> list[datetime]:
        marks = self.tables.dirty_hours.c
        day = utc_trunc("day", marks.hour)
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(day).where(self._quiet()).group_by(day).order_by(day))
            return list(rows.scalars())

    def _quiet(self) -> ColumnElement[bool]:
        marks = self.tables.dirty_hours.c
        return marks.marked_at <= func.now() - timedelta(seconds=self.settle_sec)

    async def _roll_hours_of(self, day: datetime) -> int:
        marks = self.tables.dirty_hours
        hourly, totals = self.tables.hourly, self.tables.hourly_totals
        async with self.engine.begin() as conn:
            await self._work_mem(conn)
            taken = await conn.execute(
                select(marks.c.hour)
                .where(marks.c.hour >= day, marks.c.hour < day + DAY, self._quiet())
                .order_by(marks.c.hour)
                .with_for_update(skip_locked=True)
            )
            hours = list(taken.scalars())
            if not hours:
                return 0
            await conn.execute(delete(marks).where(marks.c.hour.in_(hours)))
            for table in (hourly, totals):
                await conn.execute(delete(table).where(table.c.hour.in_(hours)))
            r = self.records.c
            within = [
                r.occurred_at >= hours[0],
                r.occurred_at < hours[-1] + HOUR,
                utc_trunc("hour", r.occurred_at).in_(hours),
            ]
            await self._insert_summaries(conn, hourly, "hour", within)
            await self._insert_summaries(conn, totals, "hour", within)
            # An update, not "do nothing": it waits for a day rollup that read the day before
            # these hours, so that the day is marked again rather than unmarked after them.
            mark_day = pg_insert(self.tables.dirty_days).values(day=day)
            await conn.execute(
                mark_day.on_conflict_do_update(index_elements=["day"], set_={"day": day})
            )
        return len(hours)

    async def _roll_next_day(self) -> datetime | None:
        days, marks, daily = self.tables.dirty_days, self.tables.dirty_hours, self.tables.daily
        async with self.engine.begin() as conn:
            await self._work_mem(conn)
            hour_marked = exists().where(
                and_(marks.c.hour >= days.c.day, marks.c.hour < days.c.day + DAY)
            )
            day = (
                await conn.execute(
                    select(days.c.day)
                    .where(~hour_marked)
                    .order_by(days.c.day)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            ).scalar()
            if day is None:
                return None
            await conn.execute(delete(daily).where(daily.c.day == day))
            r = self.records.c
            within = [r.occurred_at >= day, r.occurred_at < day + DAY]
            await self._insert_summaries(conn, daily, "day", within)
            await conn.execute(delete(days).where(days.c.day == day))
        return day

    async def _insert_summaries(
        self, conn: AsyncConnection, target: Table, unit: str, within: list[ColumnElement[bool]]
    ) -> None:
        dimensions = dimensions_of(target)
        r = self.records.c
        keys: list[ColumnElement[Any]] = [utc_trunc(unit, r.occurred_at)]
        keys += [r[name] for name in dimensions]
        summaries = record_summaries(self.records, keys, within)
        await conn.execute(
            insert(target).from_select([unit, *dimensions, *SUMMARY_COLUMNS], summaries)
        )

    async def _work_mem(self, conn: AsyncConnection) -> None:
        await conn.execute(text(f"SET LOCAL work_mem = '{self.work_mem}'"))


async def run(rollup: Rollup, interval_sec: float, stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        try:
            hours, days = await rollup.run_once()
            if hours or days:
                log.info("rolled up %d hours and %d days of usage", hours, days)
        except Exception:  # the database may be away: the marks wait for the next round
            log.exception("rolling up usage failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval_sec)
