"""GET /admin/usage: usage records or aggregates, answered by the usage service over NATS.

The usage service knows user and org ids only; the gateway adds the names from its own tables.
`format=csv` exports every matching record (or every group) as an attachment, page by page.
"""

import csv
import io
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from cortex_contracts.messages.usage import (
    MAX_PAGE_SIZE,
    UsageGroup,
    UsageGroups,
    UsagePage,
    UsageQuery,
)
from cortex_contracts.topology import Topology
from cortex_gateway.admin.views import UsageGroupList, UsageRecordList
from cortex_gateway.auth.dependencies import Admin
from cortex_gateway.deps import Database, QueryClientDep, SettingsDep
from cortex_gateway.openapi import ADMIN, errors
from cortex_gateway.tables import orgs, users
from cortex_runtime.query import QueryClient

router = APIRouter(prefix="/admin", tags=["admin"], responses=errors(*ADMIN))
T = TypeVar("T", bound=BaseModel)

RECORD_CSV_COLUMNS = (
    "occurred_at", "event_id", "completion_id", "user_id", "username", "org_id", "org_name",
    "api_key_id", "model", "engine_type", "source", "stream", "status", "error", "finish_reason",
    "http_status",
    "prompt_tokens", "completion_tokens", "total_tokens", "ttft_ms", "latency_ms",
    "decode_tokens_per_s", "chat_session_id",
)  # fmt: skip
GROUP_CSV_COLUMNS = ("key", "label", *(name for name in UsageGroup.model_fields if name != "key"))
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Reports over long ranges may take seconds; the usage service cancels its query at 25 s
# (CORTEX_USAGE_STATEMENT_TIMEOUT_SEC) and answers 503 before this runs out.
USAGE_REPLY_TIMEOUT_SEC = 30.0


CSV_EXPORT = {
    "description": "Records (or groups, with `group_by`); with `format=csv` as a file",
    "content": {"text/csv": {"schema": {"type": "string"}}},
}


@dataclass(frozen=True, slots=True)
class UsageSources:
    """Where a report comes from: the usage service (the records) and the gateway's own tables
    (the user and org names)."""

    queries: QueryClient
    topology: Topology
    database: AsyncEngine


async def usage_sources(
    queries: QueryClientDep, settings: SettingsDep, database: Database
) -> UsageSources:
    return UsageSources(queries, settings.topology, database)


Sources = Annotated[UsageSources, Depends(usage_sources)]


class UsageParams(UsageQuery):
    """The query string: the usage query plus the answer's format."""

    model_config = ConfigDict(extra="ignore")

    format: Literal["json", "csv"] = "json"


@router.get(
    "/usage",
    response_model=UsageRecordList | UsageGroupList,
    responses={200: CSV_EXPORT, **errors(422, 502)},
)
async def get_usage(
    _: Admin, sources: Sources, params: Annotated[UsageParams, Query()]
) -> dict[str, Any] | StreamingResponse:
    query = UsageQuery.model_validate(params.model_dump(exclude={"format"}))
    if query.group_by is not None:
        grouped = await _aggregate(sources, query)
        if params.format == "csv":
            return _csv_response(_group_lines(grouped), f"usage-by-{query.group_by}")
        return {"group_by": grouped["group_by"], "groups": grouped["groups"]}
    if params.format == "csv":
        query = query.model_copy(update={"limit": MAX_PAGE_SIZE})
        first = await _page(sources, query)  # before the 200: a bad cursor still answers 422
        return _csv_response(_record_lines(sources, query, first), "usage")
    page = await _page(sources, query)
    return {"records": page["records"], "next_cursor": page["next_cursor"]}


async def _ask(sources: UsageSources, query: UsageQuery, reply_type: type[T]) -> T:
    return await sources.queries.ask_for(
        sources.topology.usage_query_subject,
        query,
        reply_type,
        timeout=USAGE_REPLY_TIMEOUT_SEC,
        service="usage",
    )


async def _page(sources: UsageSources, query: UsageQuery) -> dict[str, Any]:
    page = await _ask(sources, query, UsagePage)
    records = [record.model_dump(mode="json") for record in page.records]
    user_names, org_names = await _names(
        sources.database,
        {r.user_id for r in page.records if r.user_id},
        {r.org_id for r in page.records if r.org_id},
    )
    for record in records:
        record["username"] = user_names.get(record["user_id"])
        record["org_name"] = org_names.get(record["org_id"])
    return {"records": records, "next_cursor": page.next_cursor}


async def _aggregate(sources: UsageSources, query: UsageQuery) -> dict[str, Any]:
    grouped = await _ask(sources, query, UsageGroups)
    keys = {group.key for group in grouped.groups if group.key}
    user_names, org_names = await _names(
        sources.database,
        keys if grouped.group_by == "user" else set(),
        keys if grouped.group_by == "org" else set(),
    )
    labels = {"user": user_names, "org": org_names}.get(grouped.group_by, {})
    groups = []
    for group in grouped.groups:
        item = group.model_dump(mode="json")
        item["label"] = labels.get(group.key or "", group.key)
        groups.append(item)
    return {"group_by": grouped.group_by, "groups": groups}


async def _names(
    engine: AsyncEngine, user_ids: set[str], org_ids: set[str]
) -> tuple[dict[str, str], dict[str, str]]:
    user_names: dict[str, str] = {}
    org_names: dict[str, str] = {}
    if not user_ids and not org_ids:
        return user_names, org_names
    async with engine.connect() as conn:
        if user_ids:
            rows = await conn.execute(
                select(users.c.id, users.c.username).where(users.c.id.in_(user_ids))
            )
            user_names = {row.id: row.username for row in rows}
        if org_ids:
            rows = await conn.execute(select(orgs.c.id, orgs.c.name).where(orgs.c.id.in_(org_ids)))
            org_names = {row.id: row.name for row in rows}
    return user_names, org_names


async def _record_lines(
    sources: UsageSources, query: UsageQuery, first: dict[str, Any]
) -> AsyncIterator[str]:
    yield _csv_lines([RECORD_CSV_COLUMNS])
    page = first
    while True:
        yield _csv_lines(
            [record.get(column) for column in RECORD_CSV_COLUMNS] for record in page["records"]
        )
        if page["next_cursor"] is None:
            return
        page = await _page(sources, query.model_copy(update={"cursor": page["next_cursor"]}))


async def _group_lines(grouped: dict[str, Any]) -> AsyncIterator[str]:
    yield _csv_lines([GROUP_CSV_COLUMNS])
    yield _csv_lines(
        [group.get(column) for column in GROUP_CSV_COLUMNS] for group in grouped["groups"]
    )


def _csv_lines(rows: Iterable[Iterable[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow(_csv_cell(value) for value in row)
    return buffer.getvalue()


def _csv_cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula (an upstream's error message, say) is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return "" if value is None else value


def _csv_response(lines: AsyncIterator[str], name: str) -> StreamingResponse:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        lines,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"'},
    )
