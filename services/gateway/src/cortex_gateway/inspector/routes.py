"""The inspector's API (cookie auth): presets, and the checks kept with a chat.

- `GET/POST /v1/presets`, `PUT/DELETE /v1/presets/{id}`: the user's presets and the org's
  shared ones; only the owner changes or deletes one.
- `GET/PUT /v1/chat/sessions/{id}/inspector`: the chat's JSON Schema, tools and last batch.
"""

import json
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Response, status
from pydantic import BaseModel, Field, field_validator

from cortex_contracts.events.inspector import MAX_NAME, BatchReport, PresetBody
from cortex_contracts.storable import document_problem
from cortex_gateway.auth.dependencies import UserSession
from cortex_gateway.chat.aggregate import load_session
from cortex_gateway.deps import Events
from cortex_gateway.inspector.store import InspectorStore, PresetNotFound, StoredPreset
from cortex_gateway.openapi import AUTHENTICATED, STATE_CHANGING, WITH_BODY, errors

presets = APIRouter(prefix="/v1/presets", tags=["inspector"])
chat_checks = APIRouter(prefix="/v1/chat/sessions", tags=["inspector"])


async def get_store(events: Events) -> InspectorStore:
    return InspectorStore(events.js, events.topology)


Store = Annotated[InspectorStore, Depends(get_store)]


MAX_DOCUMENT_BYTES = 256 * 1024  # a schema or a tool list; events stay under NATS's 1 MiB


def _storable(value: Any) -> Any:
    problem = None if value is None else document_problem(value)
    if problem:
        raise ValueError(f"is not storable: {problem}")
    if value is not None and len(json.dumps(value).encode()) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"is over {MAX_DOCUMENT_BYTES // 1024} KiB")
    return value


class PresetIn(BaseModel):
    name: str = Field(min_length=1, max_length=MAX_NAME)
    shared: bool = Field(default=False, strict=True)  # 0/1 are not booleans here
    preset: PresetBody

    @field_validator("preset")
    @classmethod
    def _storable_preset(cls, value: PresetBody) -> PresetBody:
        _storable(value.model_dump())
        return value


class PresetView(BaseModel):
    id: str
    name: str
    shared: bool
    mine: bool = Field(description="the caller owns it (and may change or delete it)")
    preset: PresetBody
    updated_at: datetime


class PresetList(BaseModel):
    presets: list[PresetView]


class ChecksIn(BaseModel):
    output_schema: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    batch: BatchReport | None = None

    _storable_checks = field_validator("output_schema", "tools")(_storable)


class ChecksView(ChecksIn):
    saved_at: datetime | None = None


def _view(stored: StoredPreset, user_id: str) -> PresetView:
    e = stored.event
    return PresetView(
        id=e.aggregate_id,
        name=e.name,
        shared=e.shared,
        mine=stored.owner_id == user_id,
        preset=e.preset,
        updated_at=stored.updated_at,
    )


def _preset_id(preset_id: str) -> str:
    try:
        return str(UUID(preset_id))
    except ValueError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Preset not found.") from None


@presets.get("", response_model=PresetList, responses=errors(*AUTHENTICATED))
async def list_presets(principal: UserSession, store: Store) -> PresetList:
    found = await store.list_presets(principal)
    return PresetList(presets=[_view(p, principal.user_id) for p in found])


@presets.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PresetView,
    responses=errors(*STATE_CHANGING, *WITH_BODY),
)
async def create_preset(body: PresetIn, principal: UserSession, store: Store) -> PresetView:
    stored = await store.save_preset(
        principal, None, name=body.name, shared=body.shared, preset=body.preset
    )
    return _view(stored, principal.user_id)


@presets.put(
    "/{preset_id}", response_model=PresetView, responses=errors(404, *STATE_CHANGING, *WITH_BODY)
)
async def replace_preset(
    preset_id: str, body: PresetIn, principal: UserSession, store: Store
) -> PresetView:
    try:
        stored = await store.save_preset(
            principal, _preset_id(preset_id), name=body.name, shared=body.shared, preset=body.preset
        )
    except PresetNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Preset not found.") from None
    return _view(stored, principal.user_id)


@presets.delete(
    "/{preset_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(404, *STATE_CHANGING),
)
async def delete_preset(preset_id: str, principal: UserSession, store: Store) -> Response:
    try:
        await store.delete_preset(principal, _preset_id(preset_id))
    except PresetNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Preset not found.") from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _own_session(events: Events, principal: UserSession, session_id: str) -> str:
    try:
        sid = str(UUID(session_id))
    except ValueError:
        sid = ""
    session = (
        await load_session(events.js, events.topology, principal.user_id, sid) if sid else None
    )
    if session is None or session.deleted:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Chat session not found.")
    return sid


@chat_checks.get(
    "/{session_id}/inspector", response_model=ChecksView, responses=errors(404, *AUTHENTICATED)
)
async def get_checks(
    session_id: str, principal: UserSession, events: Events, store: Store
) -> ChecksView:
    sid = await _own_session(events, principal, session_id)
    saved = await store.chat_checks(principal, sid)
    if saved is None:
        return ChecksView()
    return ChecksView(
        output_schema=saved.output_schema,
        tools=saved.tools,
        batch=saved.batch,
        saved_at=saved.occurred_at,
    )


@chat_checks.put(
    "/{session_id}/inspector",
    response_model=ChecksView,
    responses=errors(404, *STATE_CHANGING, *WITH_BODY),
)
async def save_checks(
    session_id: str, body: ChecksIn, principal: UserSession, events: Events, store: Store
) -> ChecksView:
    sid = await _own_session(events, principal, session_id)
    saved = await store.save_chat_checks(
        principal, sid, output_schema=body.output_schema, tools=body.tools, batch=body.batch
    )
    return ChecksView(
        output_schema=saved.output_schema,
        tools=saved.tools,
        batch=saved.batch,
        saved_at=saved.occurred_at,
    )
