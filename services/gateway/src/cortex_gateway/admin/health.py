"""GET /admin/upstreams (registry entries with health and history) and
POST /admin/upstreams/refresh-health (probe now, through a health replica)."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from cortex_contracts.events.models import HealthCheck, ModelHealth, Upstream
from cortex_contracts.messages.health import RefreshHealth, RefreshHealthReply
from cortex_gateway.auth.dependencies import Admin
from cortex_gateway.deps import State
from cortex_gateway.models.catalog import public_view
from cortex_gateway.models.health_view import HealthView

router = APIRouter(prefix="/admin", tags=["admin"])

HEALTH_FIELDS = {"expires_after_sec", "history"}


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None, max_length=1000, description="omit (or send no body) for every model"
    )


@router.get("/upstreams")
async def list_upstreams(state: State, _: Admin) -> dict[str, list[dict[str, Any]]]:
    upstreams = sorted(state.catalog.all(), key=lambda u: u.served_model_name)
    return {"upstreams": [_upstream_view(upstream, state.health) for upstream in upstreams]}


@router.post("/upstreams/refresh-health")
async def refresh_health(
    state: State, _: Admin, body: Annotated[RefreshRequest | None, Body()] = None
) -> dict[str, Any]:
    names = body.models if body is not None else None
    if names is not None:
        unknown = [name for name in names if state.catalog.get(name) is None]
        if unknown:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, detail=f"Unknown model: {', '.join(unknown)}."
            )
    timeout = state.settings.query_timeout_sec
    request = RefreshHealth(models=names, timeout_sec=timeout)
    subject = state.topology.health_refresh_subject
    reply = await state.queries.ask_for(
        subject, request, RefreshHealthReply, timeout=timeout, service="health"
    )
    for result in reply.results:  # the running list reflects the results before we answer
        state.health.apply_result(result.health, result.revision)
    return {
        "results": [_health_json(result.health) for result in reply.results],
        "unknown": reply.unknown,
    }


def _upstream_view(upstream: Upstream, view: HealthView) -> dict[str, Any]:
    fields = public_view(upstream)  # the upstream's API key stays server-side
    fresh = view.get(upstream.served_model_name)
    known = view.last_known(upstream.served_model_name)
    fields["health"] = _health_json(fresh) if fresh else None
    fields["history"] = [
        _check_json(upstream.served_model_name, check) for check in (known.history if known else [])
    ]
    return fields


def _health_json(health: ModelHealth) -> dict[str, Any]:
    return health.model_dump(mode="json", exclude=HEALTH_FIELDS)


def _check_json(name: str, check: HealthCheck) -> dict[str, Any]:
    return {"served_model_name": name, **check.model_dump(mode="json")}
