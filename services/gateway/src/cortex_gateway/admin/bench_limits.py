"""GET/PUT /admin/bench/limits: who may start benchmark runs and how much load one may use
(audited). The rule they set is in BenchLimits' docstring and docs/benchmark-runs.md."""

from fastapi import APIRouter, Request

from cortex_contracts.messages.bench import BenchLimits
from cortex_gateway import audit
from cortex_gateway.auth.dependencies import Admin
from cortex_gateway.bench.access import LIMITS_KEY, Buckets
from cortex_gateway.deps import Events
from cortex_gateway.openapi import ADMIN, WITH_BODY, errors

router = APIRouter(prefix="/admin/bench", tags=["admin"], responses=errors(*ADMIN))


@router.get("/limits")
async def get_limits(_: Admin, buckets: Buckets) -> BenchLimits:
    return await buckets.read_limits()


@router.put("/limits", responses=errors(*WITH_BODY))
async def put_limits(
    body: BenchLimits, admin: Admin, request: Request, buckets: Buckets, events: Events
) -> BenchLimits:
    before = await buckets.read_limits()
    await audit.record_by(
        events,
        request,
        admin,
        "bench.limits_changed",
        subject_id=LIMITS_KEY,
        before=before.model_dump(),
        after=body.model_dump(),
    )
    await buckets.limits.put(LIMITS_KEY, body.model_dump_json().encode())
    return body
