"""Answers to usage queries: a page of records (newest first) or aggregates per group."""

import base64
import binascii
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    String,
    cast,
    func,
    literal,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import array
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
from cortex_usage.metrics import QUERY_SECONDS
from cortex_usage.tables import usage_records

QUERY_CANCELED = "57014"  # PostgreSQL: statement timeout
PAGE_BUDGET_BYTES = 512 * 1024  # half of NATS's default max payload
RECORD_COLUMNS = [c for c in usage_records.c if c.name != "stream_seq"]


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


def filter_conditions(filters: UsageFilters) -> list[ColumnElement[bool]]:
    r = usage_records.c
    conditions: list[ColumnElement[bool]] = []
    if filters.start is not None:
        conditions.append(r.occurred_at >= filters.start)
    if filters.end is not None:
        conditions.append(r.occurred_at < filters.end)
    for column, value in (
        (r.model, filters.model),
        (r.user_id, filters.user_id),
        (r.org_id, filters.org_id),
        (r.source, filters.source),
        (r.status, filters.status),
    ):
        if value is not None:
            conditions.append(column == value)
    return conditions


def group_key(group_by: GroupBy) -> ColumnElement[Any]:
    r = usage_records.c
    if group_by in ("hour", "day"):
        return func.date_trunc(group_by, r.occurred_at, literal("UTC", String))
    return {"model": r.model, "user": r.user_id, "org": r.org_id}[group_by]


def aggregate_statement(query: UsageQuery) -> Select[Any]:
    assert query.group_by is not None
    r = usage_records.c
    key = group_key(query.group_by).label("key")
    quartiles = array([0.5, 0.95])  # one sort per column gives both percentiles
    requests = func.count()
    statement = (
        select(
            key,
            requests.label("requests"),
            func.coalesce(func.sum(r.prompt_tokens), 0).label("prompt_tokens"),
            func.coalesce(func.sum(r.completion_tokens), 0).label("completion_tokens"),
            func.coalesce(func.sum(r.total_tokens), 0).label("total_tokens"),
            func.percentile_cont(quartiles).within_group(r.ttft_ms).label("ttft"),
            func.percentile_cont(quartiles).within_group(r.latency_ms).label("latency"),
            (cast(func.count().filter(r.status == "error"), Float) / requests).label("error_rate"),
        )
        .where(*filter_conditions(query))
        .group_by(key)
    )
    if query.group_by in ("hour", "day"):
        return statement.order_by(key)
    return statement.order_by(requests.desc(), key)


def _group_key_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value).isoformat().replace("+00:00", "Z")
    return str(value)


def _pair(values: list[float] | None) -> tuple[float | None, float | None]:
    return (values[0], values[1]) if values else (None, None)


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
            await self._limit_statement(conn)
            rows = (await conn.execute(aggregate_statement(query))).mappings().all()
        groups = []
        for row in rows:
            ttft_p50, ttft_p95 = _pair(row["ttft"])
            latency_p50, latency_p95 = _pair(row["latency"])
            groups.append(
                UsageGroup(
                    key=_group_key_text(row["key"]),
                    requests=row["requests"],
                    prompt_tokens=int(row["prompt_tokens"]),
                    completion_tokens=int(row["completion_tokens"]),
                    total_tokens=int(row["total_tokens"]),
                    ttft_p50_ms=ttft_p50,
                    ttft_p95_ms=ttft_p95,
                    latency_p50_ms=latency_p50,
                    latency_p95_ms=latency_p95,
                    error_rate=row["error_rate"],
                )
            )
        return UsageGroups(group_by=query.group_by, groups=groups)

    async def _limit_statement(self, conn: AsyncConnection) -> None:
        """A runaway query is cancelled (and answered) before the gateway gives up on it."""
        await conn.execute(text(f"SET LOCAL statement_timeout = {self.timeout_ms}"))
        await conn.execute(text(f"SET LOCAL work_mem = '{self.work_mem}'"))
