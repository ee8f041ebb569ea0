"""GET /admin/upstreams (registry entries with health and history) and
POST /admin/upstreams/refresh-health (probe now, through a health replica)."""

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from cortex_contracts.events.models import HealthCheck, ModelHealth, Upstream
from cortex_contracts.messages.health import RefreshHealth, RefreshHealthReply
from cortex_gateway.admin.views import (
    HealthCheckInfo,
    HealthInfo,
    RefreshResults,
    UpstreamList,
    UpstreamWithHealth,
)
from cortex_gateway.auth.dependencies import Admin
from cortex_gateway.deps import QueryClientDep, SettingsDep
from cortex_gateway.models.catalog import public_view
from cortex_gateway.models.deps import Catalog, Health
from cortex_gateway.models.health_view import HealthView
from cortex_gateway.openapi import ADMIN, WITH_BODY, errors

router = APIRouter(prefix="/admin", tags=["admin"], responses=errors(*ADMIN))

HEALTH_FIELDS = {"expires_after_sec", "history"}


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None, max_length=1000, description="omit (or send no body) for every model"
    )


@router.get("/upstreams")
async def list_upstreams(catalog: Catalog, health: Health, _: Admin) -> UpstreamList:
    upstreams = sorted(catalog.all(), key=lambda u: u.served_model_name)
    return UpstreamList(upstreams=[_upstream_view(upstream, health) for upstream in upstreams])


@router.post("/upstreams/refresh-health", responses=errors(404, 502, *WITH_BODY))
async def refresh_health(
    catalog: Catalog,
    health: Health,
    queries: QueryClientDep,
    settings: SettingsDep,
    _: Admin,
    body: Annotated[RefreshRequest | None, Body()] = None,
) -> RefreshResults:
    names = body.models if body is not None else None
    if names is not None:
        unknown = [name for name in names if catalog.get(name) is None]
        if unknown:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, detail=f"Unknown model: {', '.join(unknown)}."
            )
    timeout = settings.query_timeout_sec
    request = RefreshHealth(models=names, timeout_sec=timeout)
    subject = settings.topology.health_refresh_subject
    reply = await queries.ask_for(
        subject, request, RefreshHealthReply, timeout=timeout, service="health"
    )
    for result in reply.results:  # the running list reflects the results before we answer
        health.apply_result(result.health, result.revision)
    return RefreshResults(
        results=[_health_info(result.health) for result in reply.results],
        unknown=reply.unknown,
    )


def _upstream_view(upstream: Upstream, view: HealthView) -> UpstreamWithHealth:
    fresh = view.get(upstream.served_model_name)
    known = view.last_known(upstream.served_model_name)
    return UpstreamWithHealth(
        **public_view(upstream),  # the upstream's API key stays server-side
        health=_health_info(fresh) if fresh else None,
        history=[
            _check_info(upstream.served_model_name, check)
            for check in (known.history if known else [])
        ],
    )


def _health_info(health: ModelHealth) -> HealthInfo:
    return HealthInfo.model_validate(health.model_dump(exclude=HEALTH_FIELDS))


def _check_info(name: str, check: HealthCheck) -> HealthCheckInfo:
    return HealthCheckInfo(served_model_name=name, **check.model_dump())
