"""API keys: create (the key is shown once), list, revoke (admin role only)."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, Field, field_validator

from cortex_gateway import audit
from cortex_gateway.auth import accounts, store
from cortex_gateway.auth.accounts import CreatedKey, KeyView
from cortex_gateway.auth.dependencies import Admin
from cortex_gateway.deps import Db, Events
from cortex_gateway.openapi import ADMIN, WITH_BODY, errors

router = APIRouter(prefix="/admin/keys", tags=["admin"], responses=errors(*ADMIN))


class KeyList(BaseModel):
    keys: list[KeyView]


class CreateKey(BaseModel):
    user_id: str = Field(min_length=1, max_length=36)
    name: str = Field(default="", max_length=200)
    expires_at: datetime | None = Field(default=None, description="UTC when no offset is given")

    @field_validator("expires_at")
    @classmethod
    def _in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if value <= store.now():
            raise ValueError("expires_at must be in the future")
        return value


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(409, *WITH_BODY))
async def create_key(
    body: CreateKey, admin: Admin, request: Request, response: Response, db: Db, events: Events
) -> CreatedKey:
    user = await accounts.find_user(db, body.user_id)
    if user is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY, detail=f"Unknown user {body.user_id!r}."
        )
    if user.disabled:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"User {user.username!r} is disabled.")
    created = await accounts.create_key(db, user, body.name, body.expires_at)
    await audit.record_by(
        events,
        request,
        admin,
        "api_key.created",
        subject_id=created.id,
        user_id=user.id,
        username=user.username,
        prefix=created.prefix,
        name=created.name,
        expires_at=created.expires_at.isoformat() if created.expires_at else None,
    )
    response.headers["Cache-Control"] = "no-store"  # the only time the key is ever shown
    return created


@router.get("", responses=errors(422))
async def list_keys(
    _: Admin, db: Db, user_id: Annotated[str | None, Query(max_length=36)] = None
) -> KeyList:
    return KeyList(keys=await accounts.list_keys(db, user_id))


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404))
async def revoke_key(
    key_id: str, admin: Admin, request: Request, db: Db, events: Events
) -> Response:
    """Revoked at once; revoking an already revoked key changes nothing."""
    key = await accounts.find_key(db, key_id)
    if key is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="API key not found.")
    if await accounts.revoke_key(db, key_id):
        await audit.record_by(
            events,
            request,
            admin,
            "api_key.revoked",
            subject_id=key_id,
            user_id=key.user_id,
            prefix=key.prefix,
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
