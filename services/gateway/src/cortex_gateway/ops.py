"""/healthz (alive), /readyz (NATS and PostgreSQL answer, within a second), /metrics."""

from typing import Annotated, Literal

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from nats.aio.client import Client as NatsClient
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from cortex_gateway.deps import from_app_state
from cortex_runtime.readiness import ReadinessCheck, database_check, nats_check, readiness

# Probes and scrapes, not the API: typed, but left out of the OpenAPI document.
router = APIRouter(tags=["operations"], include_in_schema=False)


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, bool]


@router.get("/healthz")
async def healthz() -> Liveness:
    return Liveness()


def readiness_checks(nats: NatsClient, database: AsyncEngine) -> dict[str, ReadinessCheck]:
    """Made once per process, in the lifespan: a check still running is shared by the next
    probes."""
    return {"nats": nats_check(lambda: nats), "database": database_check(database)}


ReadinessChecks = Annotated[dict[str, ReadinessCheck], from_app_state("readiness")]


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(checks: ReadinessChecks) -> JSONResponse:
    ready, results = await readiness(checks)
    answer = Readiness(status="ready" if ready else "not ready", checks=results)
    return JSONResponse(answer.model_dump(), status_code=200 if ready else 503)


@router.get(
    "/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}}
)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
