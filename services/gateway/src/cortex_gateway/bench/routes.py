"""/v1/bench/runs: start, list, read, cancel and export benchmark runs.

A run is requested here (an event) and run by one bench replica, which drives the load through
this gateway's /v1/chat/completions with a short-lived API key of the user who started it: auth,
guard rails and usage metering apply to it like to any traffic. The key is handed over in the
bench-live bucket (expiring), never in the event stream.
"""

import uuid
from datetime import timedelta
from importlib.metadata import version
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.responses import JSONResponse, Response
from pydantic import Field

from cortex_contracts.events.bench import (
    BenchRunCancelRequested,
    BenchRunRequested,
    RunSettings,
    subject_kind,
)
from cortex_contracts.messages.bench import BenchRunList, BenchRunsQuery, BenchRunView, RunSummary
from cortex_gateway.audit import actor_of
from cortex_gateway.auth import accounts, store
from cortex_gateway.auth.dependencies import User
from cortex_gateway.bench.access import (
    QUERY_TIMEOUT_SEC,
    Buckets,
    check_allowed,
    find_run,
)
from cortex_gateway.bench.export import csv_export
from cortex_gateway.deps import Db, Events, QueryClientDep
from cortex_gateway.models.deps import Catalog, Health
from cortex_gateway.openapi import AUTHENTICATED, STATE_CHANGING, WITH_BODY, errors
from cortex_runtime.jetstream import publish_event

router = APIRouter(prefix="/v1/bench", tags=["bench"])
CREDENTIAL_MARGIN = timedelta(minutes=5)
ACTIVE = ("queued", "running")
RunId = Annotated[str, Path(min_length=1, max_length=64)]


class RunRequest(RunSettings):
    source: Literal["web", "cli", "api"] = Field(default="api", description="who started it")


@router.post(
    "/runs",
    status_code=status.HTTP_202_ACCEPTED,
    responses=errors(*STATE_CHANGING, *WITH_BODY, 409),
)
async def start_run(
    body: RunRequest,
    principal: User,
    db: Db,
    events: Events,
    queries: QueryClientDep,
    buckets: Buckets,
    catalog: Catalog,
    health: Health,
) -> RunSummary:
    """Queued at once; one bench replica picks it up. 409 while another run goes on the model."""
    settings = RunSettings.model_validate(body.model_dump(exclude={"source"}))
    limits = await buckets.read_limits()
    check_allowed(principal, settings, limits)
    upstream = catalog.get(settings.model)
    if upstream is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY, detail=f"Unknown model {settings.model!r}."
        )
    if not health.is_running(settings.model):
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=f"{settings.model} is not running right now."
        )
    others = await queries.ask_for(
        events.topology.bench_runs_subject,
        BenchRunsQuery(model=settings.model, limit=20),
        BenchRunList,
        timeout=QUERY_TIMEOUT_SEC,
        service="bench",
    )
    if any(run.status in ACTIVE for run in others.runs):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=f"A benchmark run on {settings.model} is already queued or running.",
        )
    user = await accounts.find_user(db, principal.user_id)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="Your account is gone.")
    run_id = str(uuid.uuid4())
    expires = store.now() + timedelta(seconds=limits.max_duration_sec) + CREDENTIAL_MARGIN
    key = await accounts.create_key(db, user, f"benchmark run {run_id}", expires)
    await buckets.live.put(f"credential.{run_id}", key.key.encode())
    event = BenchRunRequested(
        aggregate_id=run_id,
        actor=actor_of(principal),
        settings=settings,
        engine_type=upstream.engine_type,
        gateway_version=version("cortex-gateway"),
        source=body.source,
    )
    await publish_event(events.js, events.topology.bench_subject(run_id, "requested"), event)
    return RunSummary(
        id=run_id,
        model=settings.model,
        shape=settings.shape,
        levels=settings.levels,
        status="queued",
        user_id=principal.user_id,
        source=body.source,
        created_at=event.occurred_at,
    )


@router.get("/runs", responses=errors(*AUTHENTICATED, 422))
async def list_runs(
    principal: User,
    events: Events,
    queries: QueryClientDep,
    model: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> BenchRunList:
    """Your runs (an administrator sees everyone's), newest first."""
    query = BenchRunsQuery(
        model=model, user_id=None if principal.is_admin else principal.user_id, limit=limit
    )
    return await queries.ask_for(
        events.topology.bench_runs_subject,
        query,
        BenchRunList,
        timeout=QUERY_TIMEOUT_SEC,
        service="bench",
    )


@router.get("/runs/{run_id}", responses=errors(*AUTHENTICATED, 404, 422))
async def get_run(
    run_id: RunId, principal: User, events: Events, queries: QueryClientDep
) -> BenchRunView:
    """Settings, per-level figures, engine samples and, while it runs, its progress."""
    return await find_run(queries, events, principal, run_id)


@router.post(
    "/runs/{run_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    responses=errors(*STATE_CHANGING, 404, 409, 422),
)
async def cancel_run(
    run_id: RunId, principal: User, events: Events, queries: QueryClientDep
) -> RunSummary:
    """Stops the load at once: requests in flight are aborted and no new one starts."""
    run = await find_run(queries, events, principal, run_id)
    if run.summary.status not in ACTIVE:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="The run has already ended.")
    event = BenchRunCancelRequested(aggregate_id=run_id, actor=actor_of(principal))
    await publish_event(
        events.js, events.topology.bench_subject(run_id, subject_kind(event)), event
    )
    return run.summary


EXPORT = {
    "description": "The run with every raw sample (JSON), or its per-level figures (CSV)",
    "content": {"text/csv": {"schema": {"type": "string"}}},
}


@router.get(
    "/runs/{run_id}/export",
    response_model=BenchRunView,
    responses={200: EXPORT, **errors(*AUTHENTICATED, 404, 422)},
)
async def export_run(
    run_id: RunId,
    principal: User,
    events: Events,
    queries: QueryClientDep,
    format: Literal["json", "csv"] = "json",
) -> Response:
    run = await find_run(queries, events, principal, run_id, include_samples=format == "json")
    name = f"bench-{run.summary.model}-{run_id[:8]}"
    if format == "csv":
        return Response(
            csv_export(run),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return JSONResponse(
        run.model_dump(mode="json"),
        headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
    )
