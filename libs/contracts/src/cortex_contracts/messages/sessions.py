"""Queries the gateway sends to the sessions service (request-reply; answers of any size are
sent in chunks, see `cortex_runtime.wire`)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from cortex_contracts.events.chat import Role


class SessionSummary(BaseModel):
    id: str
    title: str
    model_name: str
    engine_type: str
    message_count: int
    created_at: datetime
    updated_at: datetime


class MessageView(BaseModel):
    id: int
    session_id: str
    role: Role
    content: str
    metrics_json: dict[str, Any] | None = None
    created_at: datetime


class SessionView(SessionSummary):
    constraints_json: dict[str, Any] | None = None
    messages: list[MessageView] = []


class ListSessions(BaseModel):
    """Answered with a `SessionPage` or an `ErrorReply`."""

    user_id: str
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = None
    min_seq: int = Field(default=0, ge=0, description="answer only once the projection reached it")


class SessionPage(BaseModel):
    sessions: list[SessionSummary]
    next_cursor: str | None = None


class GetSession(BaseModel):
    """Answered with a `SessionView`, or an `ErrorReply` (404 when the user has no such chat)."""

    user_id: str
    session_id: str
    min_seq: int = Field(default=0, ge=0, description="answer only once the session reached it")
