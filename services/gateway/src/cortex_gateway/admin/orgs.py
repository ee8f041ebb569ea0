"""Organizations: list, create, disable or enable (admin role only)."""

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from cortex_gateway import audit
from cortex_gateway.auth import accounts, store
from cortex_gateway.auth.accounts import OrgView
from cortex_gateway.auth.dependencies import Admin
from cortex_gateway.deps import Db, Events
from cortex_gateway.openapi import ADMIN, WITH_BODY, errors

router = APIRouter(prefix="/admin/orgs", tags=["admin"], responses=errors(*ADMIN))


class OrgList(BaseModel):
    orgs: list[OrgView]


class CreateOrg(BaseModel):
    name: str = Field(min_length=1, max_length=200, pattern=r"\S")


async def existing_org(db: AsyncConnection, org_id: str) -> OrgView:
    found = await accounts.find_org(db, org_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Organization not found.")
    return found


@router.get("")
async def list_orgs(_: Admin, db: Db) -> OrgList:
    return OrgList(orgs=await accounts.list_orgs(db))


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(409, *WITH_BODY))
async def create_org(
    body: CreateOrg, admin: Admin, request: Request, db: Db, events: Events
) -> OrgView:
    name = body.name.strip()
    taken = HTTPException(
        status.HTTP_409_CONFLICT, detail=f"An organization named {name!r} already exists."
    )
    if await accounts.org_name_taken(db, name):
        raise taken
    try:
        created = await accounts.create_org(db, name)
    except IntegrityError:  # created concurrently under the same name
        raise taken from None
    await audit.record_by(events, request, admin, "org.created", subject_id=created.id, name=name)
    return created


@router.post("/{org_id}/disable", responses=errors(404, 409))
async def disable_org(
    org_id: str, admin: Admin, request: Request, db: Db, events: Events
) -> OrgView:
    """Every member is logged out and can no longer log in or use an API key."""
    org = await existing_org(db, org_id)
    if org.id == admin.org_id:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail="You cannot disable your own organization."
        )
    await accounts.set_org_disabled(db, org_id, True)
    await store.revoke_org_sessions(db, org_id)
    if not org.disabled:
        await audit.record_by(
            events, request, admin, "org.disabled", subject_id=org_id, name=org.name
        )
    return await existing_org(db, org_id)


@router.post("/{org_id}/enable", responses=errors(404))
async def enable_org(
    org_id: str, admin: Admin, request: Request, db: Db, events: Events
) -> OrgView:
    org = await existing_org(db, org_id)
    await accounts.set_org_disabled(db, org_id, False)
    if org.disabled:
        await audit.record_by(
            events, request, admin, "org.enabled", subject_id=org_id, name=org.name
        )
    return await existing_org(db, org_id)
