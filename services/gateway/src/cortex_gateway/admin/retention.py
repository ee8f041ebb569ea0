"""/admin/retention: how long chats are kept (for everyone, per organization), and a run now."""

from datetime import datetime

from fastapi import APIRouter, HTTPException, Request, status

from cortex_gateway import audit
from cortex_gateway.auth import accounts
from cortex_gateway.auth.dependencies import Admin
from cortex_gateway.deps import Db, Events
from cortex_gateway.openapi import ADMIN, WITH_BODY, errors
from cortex_gateway.retention import RetentionDep, RetentionPolicy, RetentionRun

router = APIRouter(prefix="/admin/retention", tags=["admin"], responses=errors(*ADMIN))


class RetentionSettings(RetentionPolicy):
    interval_sec: float
    last_run_at: datetime | None = None


async def current(retention: RetentionDep) -> RetentionSettings:
    policy = await retention.policy()
    return RetentionSettings(
        **policy.model_dump(),
        interval_sec=retention.interval_sec,
        last_run_at=await retention.last_run_at(),
    )


@router.get("")
async def get_retention(_: Admin, retention: RetentionDep) -> RetentionSettings:
    """Off by default: chats are kept until their owner deletes them."""
    return await current(retention)


@router.put("", responses=errors(*WITH_BODY))
async def set_retention(
    body: RetentionPolicy,
    admin: Admin,
    request: Request,
    db: Db,
    events: Events,
    retention: RetentionDep,
) -> RetentionSettings:
    """Applies from the next run: chats quiet for longer than their limit are erased."""
    for org_id in body.org_days:
        if await accounts.find_org(db, org_id) is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_ENTITY, detail=f"Unknown organization {org_id!r}."
            )
    await audit.record_by(
        events, request, admin, "retention.changed", subject_id="retention", **body.model_dump()
    )
    await retention.set_policy(body)
    return await current(retention)


@router.post("/run", responses=errors(503))
async def run_retention(_: Admin, retention: RetentionDep) -> RetentionRun:
    """A run now, besides the schedule's (its audit event is `retention.applied`)."""
    return await retention.run()
