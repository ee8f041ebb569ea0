"""Answers to usage queries: a page of records (newest first) or aggregates per group."""

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    func,
    or_,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cortex_contracts.messages import ErrorReply
from cortex_contracts.messages.usage import (
    GroupBy,
    UsageFilters,
    UsageGroup,
    UsageGroups,
    UsagePage,
    UsageQuery,
    UsageRecord,
    as_utc,
)
from cortex_usage.histogram import percentiles
from cortex_usage.metrics import QUERY_SECONDS
from cortex_usage.plan import DAY, Plan, Span, floor_hour, plan
from cortex_usage.summaries import EMPTY, record_summaries, utc_trunc
from cortex_usage.tables import SUMMARY_COLUMNS, rollups, usage_records

QUERY_CANCELED = "57014"  # PostgreSQL: statement timeout
PAGE_BUDGET_BYTES = 512 * 1024  # half of NATS's default max payload
RECORD_COLUMNS = [c for c in usage_records.c if c.name != "stream_seq"]
SUMMED_COLUMNS = ("errors", "prompt_tokens", "completion_tokens", "total_tokens")
QUANTILES = (0.5, 0.95)


class BadCursor(ValueError):
    pass


def encode_cursor(occurred_at: datetime, event_id: UUID) -> str:
    raw = f"{as_utc(occurred_at).isoformat()}|{event_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, event_id = raw.split("|")
        return as_utc(datetime.fromisoformat(stamp)), UUID(event_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise BadCursor("Invalid cursor: pass the next_cursor of a previous answer.") from error


def dimension_conditions(table: Table, filters: UsageFilters) -> list[ColumnElement[bool]]:
    """The filters other than time, on the records or on a rollup (same column names)."""
    chosen = {
        "model": filters.model,
        "user_id": filters.user_id,
        "org_id": filters.org_id,
        "source": filters.source,
        "status": filters.status,
    }
    return [table.c[name] == value for name, value in chosen.items() if value is not None]


def filter_conditions(filters: UsageFilters) -> list[ColumnElement[bool]]:
    r = usage_records.c
    conditions = dimension_conditions(usage_records, filters)
    if filters.start is not None:
        conditions.append(r.occurred_at >= filters.start)
    if filters.end is not None:
        conditions.append(r.occurred_at < filters.end)
    return conditions


def group_key(group_by: GroupBy, table: Table, time_column: str) -> ColumnElement[Any]:
    if group_by in ("hour", "day"):
        return utc_trunc(group_by, table.c[time_column])
    return table.c[{"model": "model", "user": "user_id", "org": "org_id"}[group_by]]


def hourly_table(query: UsageQuery) -> Table:
    """The totals when the answer needs no model, user or org: far fewer rows per hour."""
    per_time = query.group_by in ("hour", "day")
    if per_time and query.model is None and query.user_id is None and query.org_id is None:
        return rollups.hourly_totals
    return rollups.hourly


def within(moment: ColumnElement[datetime], spans: list[Span]) -> ColumnElement[bool]:
    return or_(*(and_(moment >= start, moment < end) for start, end in spans))


def aggregate_statement(query: UsageQuery, parts: Plan) -> Select[Any]:
    """Summaries of the plan's days, hours and raw intervals, merged per group key."""
    assert query.group_by is not None
    group_by = query.group_by
    selects: list[Select[Any]] = []
    for table, time_column, spans in (
        (rollups.daily, "day", parts.days),
        (hourly_table(query), "hour", parts.hours),
    ):
        if spans:
            selects.append(
                select(
                    group_key(group_by, table, time_column).label("key0"),
                    *(table.c[name] for name in SUMMARY_COLUMNS),
                ).where(within(table.c[time_column], spans), *dimension_conditions(table, query))
            )
    if parts.raw:
        key = group_key(group_by, usage_records, "occurred_at")
        conditions = [
            within(usage_records.c.occurred_at, parts.raw),
            *dimension_conditions(usage_records, query),
        ]
        selects.append(record_summaries(usage_records, [key], conditions))
    merged = union_all(*selects).subquery("parts")
    m = merged.c
    requests = func.sum(m.requests)
    statement = select(
        m.key0.label("key"),
        requests.label("requests"),
        *(func.sum(m[name]).label(name) for name in SUMMED_COLUMNS),
        func.string_agg(m.ttft_histogram, EMPTY).label("ttft_histogram"),
        func.string_agg(m.latency_histogram, EMPTY).label("latency_histogram"),
    ).group_by(m.key0)
    if group_by in ("hour", "day"):
        return statement.order_by(m.key0)
    return statement.order_by(requests.desc(), m.key0)


def _group_key_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value).isoformat().replace("+00:00", "Z")
    return str(value)


async def fetch_binary(conn: AsyncConnection, statement: Select[Any]) -> list[dict[str, Any]]:
    """Rows in PostgreSQL's binary format: histograms arrive as their bytes, not as hex text
    twice their size (a month by hour is megabytes of them). Same connection and transaction."""
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    driver = (await conn.get_raw_connection()).driver_connection
    assert isinstance(driver, psycopg.AsyncConnection)
    async with driver.cursor(binary=True, row_factory=dict_row) as cursor:
        await cursor.execute(str(compiled), compiled.params)
        return await cursor.fetchall()


class UsageQueries:
    def __init__(self, engine: AsyncEngine, timeout_sec: float, work_mem: str) -> None:
        self.engine = engine
        self.timeout_ms = max(1, int(timeout_sec * 1000))
        self.work_mem = work_mem

    async def answer(self, query: UsageQuery) -> UsagePage | UsageGroups | ErrorReply:
        kind = "aggregate" if query.group_by else "list"
        with QUERY_SECONDS.labels(kind).time():
            try:
                if query.group_by is not None:
                    return await self.aggregate(query)
                return await self.list(query)
            except BadCursor as error:
                return ErrorReply(error=str(error), status=422)
            except DBAPIError as error:
                if getattr(error.orig, "sqlstate", None) == QUERY_CANCELED:
                    return ErrorReply(
                        error="The usage query took too long: narrow the time range or filters.",
                        status=503,
                    )
                raise

    async def list(self, query: UsageQuery) -> UsagePage:
        r = usage_records.c
        statement = (
            select(*RECORD_COLUMNS)
            .where(*filter_conditions(query))
            .order_by(r.occurred_at.desc(), r.event_id.desc())
            .limit(query.limit + 1)
        )
        if query.cursor:
            statement = statement.where(
                tuple_(r.occurred_at, r.event_id) < tuple_(*decode_cursor(query.cursor))
            )
        async with self.engine.connect() as conn:
            await self._limit_statement(conn)
            rows = (await conn.execute(statement)).mappings().all()
        records: list[UsageRecord] = []
        size = 0
        for row in rows[: query.limit]:
            record = UsageRecord.model_validate(dict(row))
            size += len(record.model_dump_json())
            if records and size > PAGE_BUDGET_BYTES:
                break  # a page must fit in one NATS message: the rest is on the next page
            records.append(record)
        next_cursor = None
        if len(rows) > len(records):
            last = records[-1]
            next_cursor = encode_cursor(last.occurred_at, last.event_id)
        return UsagePage(records=records, next_cursor=next_cursor)

    async def aggregate(self, query: UsageQuery) -> UsageGroups:
        assert query.group_by is not None
        async with self.engine.connect() as conn:
            # One snapshot for the rollup marks and the figures, whatever the rollup does meanwhile.
            await conn.execution_options(isolation_level="REPEATABLE READ")
            await self._limit_statement(conn)
            rows = await self._aggregate_rows(conn, query)
        groups = []
        for row in rows:
            ttft_p50, ttft_p95 = percentiles(row["ttft_histogram"], QUANTILES)
            latency_p50, latency_p95 = percentiles(row["latency_histogram"], QUANTILES)
            requests = int(row["requests"])
            groups.append(
                UsageGroup(
                    key=_group_key_text(row["key"]),
                    requests=requests,
                    prompt_tokens=int(row["prompt_tokens"]),
                    completion_tokens=int(row["completion_tokens"]),
                    total_tokens=int(row["total_tokens"]),
                    ttft_p50_ms=ttft_p50,
                    ttft_p95_ms=ttft_p95,
                    latency_p50_ms=latency_p50,
                    latency_p95_ms=latency_p95,
                    error_rate=int(row["errors"]) / requests,
                )
            )
        return UsageGroups(group_by=query.group_by, groups=groups)

    async def _aggregate_rows(self, conn: AsyncConnection, query: UsageQuery) -> Sequence[Any]:
        r = usage_records.c
        start, end = query.start, query.end
        if start is None or end is None:
            first, last = (
                await conn.execute(select(func.min(r.occurred_at), func.max(r.occurred_at)))
            ).one()
            if first is None:
                return []
            start = start or as_utc(first)  # hour and day boundaries are UTC ones
            end = end or as_utc(last) + timedelta(microseconds=1)
        if start >= end:  # e.g. only a start, after the newest record
            return []
        marks, days = rollups.dirty_hours.c, rollups.dirty_days.c
        dirty_hours = await conn.execute(
            select(marks.hour).where(marks.hour >= floor_hour(start), marks.hour < end)
        )
        dirty_days = await conn.execute(
            select(days.day).where(days.day >= floor_hour(start) - DAY, days.day < end)
        )
        parts = plan(
            start,
            end,
            set(dirty_hours.scalars()),
            set(dirty_days.scalars()),
            use_days=query.group_by != "hour",
        )
        return await fetch_binary(conn, aggregate_statement(query, parts))

    async def _limit_statement(self, conn: AsyncConnection) -> None:
        """A runaway query is cancelled (and answered) before the gateway gives up on it."""
        await conn.execute(text(f"SET LOCAL statement_timeout = {self.timeout_ms}"))
        await conn.execute(text(f"SET LOCAL work_mem = '{self.work_mem}'"))
