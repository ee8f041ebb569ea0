"""/healthz (alive), /readyz (NATS and PostgreSQL answer, within a second), /metrics."""

from typing import Literal

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from cortex_gateway.deps import State
from cortex_gateway.state import AppState
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


def readiness_checks(state: AppState) -> dict[str, ReadinessCheck]:
    """Made once per process: a check still running is shared by the next probes."""
    checks = state.extras.get("readiness")
    if not isinstance(checks, dict):
        checks = {"nats": nats_check(lambda: state.nats), "database": database_check(state.engine)}
        state.extras["readiness"] = checks
    return checks


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(state: State) -> JSONResponse:
    ready, checks = await readiness(readiness_checks(state))
    answer = Readiness(status="ready" if ready else "not ready", checks=checks)
    return JSONResponse(answer.model_dump(), status_code=200 if ready else 503)


@router.get(
    "/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}}
)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
