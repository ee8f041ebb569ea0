"""The owner's chat-session API (cookie auth only)."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response, status
from pydantic import BaseModel, Field, ValidationInfo, field_validator

from cortex_contracts.events.chat import (
    UNTITLED,
    MessageAdded,
    Role,
    SessionCreated,
)
from cortex_contracts.events.models import Upstream
from cortex_contracts.messages.sessions import (
    GetSession,
    ListSessions,
    MessageView,
    SessionPage,
    SessionView,
)
from cortex_contracts.storable import document_problem, text_problem
from cortex_gateway.auth.dependencies import UserSession
from cortex_gateway.chat.aggregate import last_seq_of
from cortex_gateway.chat.commands import ChatCommands
from cortex_gateway.chat.queries import SessionQueries
from cortex_gateway.deps import Events, QueryClientDep, SettingsDep
from cortex_gateway.models.catalog import ModelCatalog, constraints_of
from cortex_gateway.models.deps import Catalog
from cortex_gateway.openapi import AUTHENTICATED, NO_NUL, STATE_CHANGING, WITH_BODY, errors

router = APIRouter(prefix="/v1/chat/sessions", tags=["chat sessions"])

POSITION_HEADER = "X-Cortex-Position"
POSITION = {
    "description": "Written",
    "headers": {
        POSITION_HEADER: {
            "description": "stream position of the write: a read waits until it is projected",
            "schema": {"type": "integer"},
        }
    },
}
JSON = "application/json"
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


async def get_commands(events: Events) -> ChatCommands:
    return ChatCommands(events.js, events.topology)


async def get_queries(client: QueryClientDep, settings: SettingsDep) -> SessionQueries:
    return SessionQueries(client, settings.topology, settings.query_timeout_sec)


Commands = Annotated[ChatCommands, Depends(get_commands)]
Queries = Annotated[SessionQueries, Depends(get_queries)]


def _storable_text(value: str | None) -> str | None:
    """The sessions projection stores only what passes these checks (cortex_contracts.storable)."""
    problem = None if value is None else text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


class CreateSession(BaseModel):
    model_name: str = Field(min_length=1, max_length=200)
    title: str | None = Field(default=None, max_length=200, json_schema_extra=NO_NUL)

    _title_is_storable = field_validator("title")(_storable_text)


class AddMessage(BaseModel):
    role: Role
    content: str = Field(json_schema_extra=NO_NUL)
    metrics_json: dict[str, Any] | None = None
    model_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="the model this message is for; refused (409) if the chat is locked to another",
    )

    _content_is_storable = field_validator("content")(_storable_text)

    @field_validator("metrics_json")
    @classmethod
    def _metrics_only_for_assistant(
        cls, value: dict[str, Any] | None, info: ValidationInfo
    ) -> dict[str, Any] | None:
        if value is not None and info.data.get("role") != "assistant":
            raise ValueError("metrics_json is accepted for assistant messages only")
        problem = None if value is None else document_problem(value)
        if problem:
            raise ValueError(f"metrics_json {problem}")
        return value


async def valid_session_id(session_id: str) -> str:
    """Malformed ids are simply not found (never a 422 that differs from another user's id)."""
    try:
        return str(UUID(session_id))
    except ValueError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Chat session not found.") from None


SessionId = Annotated[str, Depends(valid_session_id)]


def session_view(seq_event: SessionCreated, created_at: datetime) -> SessionView:
    return SessionView(
        id=seq_event.aggregate_id,
        title=seq_event.title or UNTITLED,
        model_name=seq_event.model_name,
        engine_type=seq_event.engine_type,
        message_count=0,
        created_at=created_at,
        updated_at=created_at,
        constraints_json=seq_event.constraints_json,
        messages=[],
    )


def known_model(catalog: ModelCatalog, model_name: str) -> Upstream:
    upstream = catalog.get(model_name)
    if upstream is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY, detail=f"Unknown model {model_name!r}."
        )
    return upstream


@router.get("", response_model=SessionPage, responses=errors(422, *AUTHENTICATED))
async def list_sessions(
    principal: UserSession,
    queries: Queries,
    events: Events,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Newest activity first; `next_cursor` fetches the next page. Waits (bounded) until the
    projection shows the user's latest write, else 503 with Retry-After."""
    newest = await last_seq_of(
        events.js,
        events.topology.chat_stream,
        events.topology.chat_user_subjects(principal.user_id),
    )
    page = await queries.list(
        ListSessions(user_id=principal.user_id, limit=limit, cursor=cursor, min_seq=newest)
    )
    return Response(page, media_type=JSON)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={201: POSITION, **errors(409, *STATE_CHANGING, *WITH_BODY)},
)
async def create_session(
    body: CreateSession,
    principal: UserSession,
    commands: Commands,
    catalog: Catalog,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> SessionView:
    upstream = known_model(catalog, body.model_name)
    written = await commands.create_session(
        principal,
        model_name=upstream.served_model_name,
        engine_type=upstream.engine_type,
        constraints_json=constraints_of(upstream),
        title=body.title,
        idempotency_key=idempotency_key,
    )
    assert isinstance(written.event, SessionCreated)
    response.headers[POSITION_HEADER] = str(written.seq)
    return session_view(written.event, written.event.occurred_at)


@router.get("/{session_id}", response_model=SessionView, responses=errors(404, *AUTHENTICATED))
async def get_session(
    session_id: SessionId, principal: UserSession, queries: Queries, events: Events
) -> Response:
    newest = await last_seq_of(
        events.js,
        events.topology.chat_stream,
        events.topology.chat_subject(principal.user_id, session_id),
    )
    if newest == 0:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Chat session not found.")
    session = await queries.get(
        GetSession(user_id=principal.user_id, session_id=session_id, min_seq=newest)
    )
    return Response(session, media_type=JSON)


@router.post(
    "/{session_id}/messages",
    status_code=status.HTTP_201_CREATED,
    responses={201: POSITION, **errors(404, 409, *STATE_CHANGING, *WITH_BODY)},
)
async def add_message(
    session_id: SessionId,
    body: AddMessage,
    principal: UserSession,
    commands: Commands,
    catalog: Catalog,
    settings: SettingsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> MessageView:
    limit = settings.max_message_bytes
    if len(body.content.encode()) > limit:
        raise HTTPException(
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            detail=f"Message content is over the limit of {limit} bytes.",
        )
    if body.model_name is not None:
        upstream = known_model(catalog, body.model_name)
        await commands.select_model(
            principal,
            session_id,
            model_name=upstream.served_model_name,
            engine_type=upstream.engine_type,
            constraints_json=constraints_of(upstream),
        )
    written = await commands.add_message(
        principal,
        session_id,
        role=body.role,
        content=body.content,
        metrics_json=body.metrics_json,
        model_name=body.model_name,
        idempotency_key=idempotency_key,
    )
    event = written.event
    assert isinstance(event, MessageAdded)
    response.headers[POSITION_HEADER] = str(written.seq)
    return MessageView(
        id=written.seq,
        session_id=session_id,
        role=event.role,
        content=event.content,
        metrics_json=event.metrics_json,
        created_at=event.occurred_at,
    )


@router.delete(
    "/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={204: POSITION, **errors(404, *STATE_CHANGING)},
)
async def delete_session(
    session_id: SessionId, principal: UserSession, commands: Commands
) -> Response:
    written = await commands.delete_session(principal, session_id)
    return Response(
        status_code=status.HTTP_204_NO_CONTENT, headers={POSITION_HEADER: str(written.seq)}
    )


@router.delete(
    "",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={204: POSITION, **errors(*STATE_CHANGING)},
)
async def delete_all_sessions(principal: UserSession, commands: Commands) -> Response:
    newest = await commands.delete_all_sessions(principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers={POSITION_HEADER: str(newest)})
