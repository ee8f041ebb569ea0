"""/healthz (alive), /readyz (NATS and PostgreSQL answer, within a second), /metrics."""

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cortex_gateway.deps import State
from cortex_gateway.state import AppState
from cortex_runtime.readiness import ReadinessCheck, database_check, nats_check, readiness

router = APIRouter(tags=["operations"], include_in_schema=False)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def readiness_checks(state: AppState) -> dict[str, ReadinessCheck]:
    """Made once per process: a check still running is shared by the next probes."""
    checks = state.extras.get("readiness")
    if not isinstance(checks, dict):
        checks = {"nats": nats_check(lambda: state.nats), "database": database_check(state.engine)}
        state.extras["readiness"] = checks
    return checks


@router.get("/readyz")
async def readyz(state: State) -> JSONResponse:
    ready, checks = await readiness(readiness_checks(state))
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
