"""POST /admin/audit/verify: the projections (sessions, usage) compared row by row with a replay
of their streams, each by its own service over NATS (docs/audit.md); audited."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from cortex_contracts.messages.verify import ProjectionReport
from cortex_gateway import audit
from cortex_gateway.auth.dependencies import Admin
from cortex_gateway.deps import Events, QueryClientDep
from cortex_gateway.openapi import ADMIN, errors
from cortex_runtime.verification import PROJECTIONS, ask_verify

router = APIRouter(prefix="/admin/audit", tags=["admin"], responses=errors(*ADMIN))
# A replay of a large stream takes minutes (about 20,000 events/s, docs/audit.md).
VERIFY_REPLY_TIMEOUT_SEC = 900.0


class ProjectionsVerified(BaseModel):
    differences: int = Field(description="all differences found, over every projection")
    projections: list[ProjectionReport]


@router.post("/verify", responses=errors(422, 502))
async def verify_projections(
    admin: Admin,
    request: Request,
    events: Events,
    queries: QueryClientDep,
    max_differences: Annotated[
        int, Query(ge=0, le=100_000, description="differences listed per projection")
    ] = 1000,
) -> ProjectionsVerified:
    reports = [
        await ask_verify(
            queries,
            events.topology,
            projection,
            timeout=VERIFY_REPLY_TIMEOUT_SEC,
            max_differences=max_differences,
        )
        for projection in PROJECTIONS
    ]
    verified = ProjectionsVerified(
        differences=sum(report.drift for report in reports), projections=reports
    )
    await audit.record_by(
        events,
        request,
        admin,
        "audit.verified",
        subject_id="projections",
        differences=verified.differences,
        tables={t.table: t.differences for report in reports for t in report.tables},
    )
    return verified
