"""GET /admin/audit/export and /admin/audit/timeline: a user's, a chat's or a period's events
(admin role only; every access is itself audited). The same reads as `cortex-audit export` and
`cortex-audit timeline` (cortex_runtime.history, docs/audit.md)."""

from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from cortex_contracts.messages.usage import UtcDatetime
from cortex_contracts.timeline import TimelineEntry
from cortex_contracts.trail import TrailQuery, selections
from cortex_gateway import audit
from cortex_gateway.auth import accounts, store
from cortex_gateway.auth.dependencies import Admin
from cortex_gateway.deps import Db, Events, EventStore
from cortex_gateway.openapi import ADMIN, errors
from cortex_runtime.history import KnownUser, export_line, find_user, read_timeline, read_trail

router = APIRouter(prefix="/admin/audit", tags=["admin"], responses=errors(*ADMIN))

NDJSON = "application/x-ndjson"
NDJSON_EXPORT = {
    "description": "One event a line: stream, seq, subject, time (stored), event; by store time",
    "content": {NDJSON: {"schema": {"type": "string"}}},
}
TIMELINE_LIMIT = 1000
TIMELINE_MAX = 20_000
# A username or a user id (a UUID): the characters either may hold, so a NUL or a wildcard is a
# 422 before any lookup.
USER_PATTERN = r"^[A-Za-z0-9._@-]+$"
USER_DESCRIPTION = "a username or user id"


class ExportParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str | None = Field(
        default=None, max_length=100, pattern=USER_PATTERN, description=USER_DESCRIPTION
    )
    chat: UUID | None = Field(default=None, description="a chat (session) id")
    since: UtcDatetime | None = Field(default=None, description="stored at or after (ISO 8601)")
    until: UtcDatetime | None = Field(default=None, description="stored before (ISO 8601)")


class TimelineView(BaseModel):
    user_id: str
    username: str
    total: int = Field(description="every entry of the user's history")
    entries: list[TimelineEntry] = Field(description="the newest `limit` entries, oldest first")


async def known_user(db: AsyncConnection, events: EventStore, who: str) -> KnownUser:
    """By id or username: an account of the database, else one the audit trail names (a deleted
    user's history stays readable)."""
    by_id = await accounts.find_user(db, who)
    if by_id is not None:
        return KnownUser(by_id.id, by_id.username)
    by_name = await store.find_user_by_name(db, who)
    if by_name is not None:
        return KnownUser(str(by_name["id"]), str(by_name["username"]))
    found = await find_user(events.js, events.topology, who)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"Unknown user {who!r}.")
    return found


def trail_query(params: ExportParams, user: KnownUser | None) -> TrailQuery:
    try:
        return TrailQuery(
            user_id=user.user_id if user else None,
            username=user.username if user else None,
            chat_id=params.chat,
            since=params.since,
            until=params.until,
        )
    except ValidationError as error:
        detail = error.errors()[0]["msg"].removeprefix("Value error, ")
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail=detail) from None


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: NDJSON_EXPORT, **errors(404, 422)},
)
async def export_events(
    admin: Admin,
    request: Request,
    db: Db,
    events: Events,
    params: Annotated[ExportParams, Query()],
) -> StreamingResponse:
    """Chat, usage and audit events as JSON Lines, streamed; filters combine."""
    user = await known_user(db, events, params.user) if params.user else None
    query = trail_query(params, user)
    await audit.record_by(
        events,
        request,
        admin,
        "audit.exported",
        subject_id=user.user_id if user else "*",
        user_id=user.user_id if user else None,
        username=user.username if user else "everyone",
        chat_id=str(query.chat_id) if query.chat_id else None,
        since=query.since.isoformat() if query.since else None,
        until=query.until.isoformat() if query.until else None,
    )

    async def lines() -> AsyncIterator[bytes]:
        found = selections(events.topology, query)
        async for recorded in read_trail(events.js, found, query.since, query.until):
            yield export_line(recorded)

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"events-{user.username if user else 'all'}-{stamp}.jsonl"
    return StreamingResponse(
        lines(),
        media_type=NDJSON,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/timeline", responses=errors(404, 422))
async def user_timeline(
    admin: Admin,
    request: Request,
    db: Db,
    events: Events,
    user: Annotated[str, Query(max_length=100, pattern=USER_PATTERN, description=USER_DESCRIPTION)],
    limit: Annotated[int, Query(ge=1, le=TIMELINE_MAX)] = TIMELINE_LIMIT,
) -> TimelineView:
    """What happened to a user, one entry per event (logins, chats, messages, deletes, keys,
    role and password changes, admins' actions on them)."""
    known = await known_user(db, events, user)
    await audit.record_by(
        events,
        request,
        admin,
        "audit.timeline_viewed",
        subject_id=known.user_id,
        user_id=known.user_id,
        username=known.username,
    )
    newest: deque[TimelineEntry] = deque(maxlen=limit)
    total = 0
    async for entry in read_timeline(events.js, events.topology, known):
        newest.append(entry)
        total += 1
    return TimelineView(
        user_id=known.user_id, username=known.username, total=total, entries=list(newest)
    )
