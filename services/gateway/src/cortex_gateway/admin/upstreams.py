"""POST /admin/upstreams (register or replace a model server) and DELETE /admin/upstreams/{name}.

Changes go to the shared registry (see models/catalog.py): every gateway replica and the health
service see them at once, and they survive restarts (CORTEX_MODELS_FILE never overwrites them).
"""

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from cortex_contracts.events.models import EngineType, Upstream
from cortex_gateway import audit
from cortex_gateway.admin.views import UpstreamInfo
from cortex_gateway.auth.dependencies import Admin
from cortex_gateway.deps import Events, EventStore
from cortex_gateway.models.catalog import public_view
from cortex_gateway.models.deps import Catalog
from cortex_gateway.models.registry import Seeded
from cortex_gateway.openapi import ADMIN, WITH_BODY, errors

router = APIRouter(prefix="/admin", tags=["admin"], responses=errors(*ADMIN))


class RegisterUpstream(BaseModel):
    """`api_key` left out keeps the current key of a model being replaced; null or "" clears it."""

    model_config = ConfigDict(extra="forbid")

    served_model_name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:/-]+$")
    base_url: HttpUrl = Field(json_schema_extra={"pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"})
    engine_type: EngineType = "openai"
    api_key: str | None = Field(default=None, max_length=1000)
    # strict: `"4096"` is not a number (as the schema says), though pydantic would read it as one
    context_size: int | None = Field(default=None, gt=0, strict=True)
    max_tokens_default: int | None = Field(default=None, gt=0, strict=True)
    request_defaults: dict[str, Any] | None = None
    task: str = Field(default="generate", min_length=1, max_length=50)


def changes_between(current: Upstream | None, new: Upstream) -> dict[str, Any]:
    """What a registration changed, field by field, as the API shows it: never the API key."""
    before = public_view(current) if current is not None else {}
    after = public_view(new)
    changes: dict[str, Any] = {
        field: {"from": before.get(field), "to": value}
        for field, value in after.items()
        if before.get(field) != value
    }
    if current is not None and current.api_key and new.api_key != current.api_key:
        changes["api_key"] = "replaced" if new.api_key else "removed"
    return changes


def registered_details(current: Upstream | None, new: Upstream) -> dict[str, Any]:
    return {
        "base_url": str(new.base_url),
        "engine_type": new.engine_type,
        "replaced": current is not None,
        "changes": changes_between(current, new),
    }


async def record_seeded(events: EventStore, change: Seeded) -> None:
    """A change CORTEX_MODELS_FILE made at start, by the system (recorded once it is made: the
    write is conditional, only the replica whose write succeeded records it)."""
    if change.after is not None:
        details = registered_details(change.before, change.after)
        name = change.after.served_model_name
        await audit.record(
            events, "upstream.registered", subject_id=name, by="models_file", **details
        )
    elif change.before is not None:
        name = change.before.served_model_name
        await audit.record(events, "upstream.removed", subject_id=name, by="models_file")


@router.post(
    "/upstreams",
    responses={201: {"model": UpstreamInfo, "description": "Registered"}, **errors(*WITH_BODY)},
)
async def register_upstream(
    body: RegisterUpstream,
    admin: Admin,
    catalog: Catalog,
    events: Events,
    request: Request,
    response: Response,
) -> UpstreamInfo:
    if body.base_url.scheme not in ("http", "https"):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "base_url must be http(s).")
    current = catalog.get(body.served_model_name)
    api_key = body.api_key or None
    if "api_key" not in body.model_fields_set and current is not None:
        api_key = current.api_key
    upstream = Upstream(**body.model_dump(exclude={"api_key"}), api_key=api_key, origin="admin")
    # Audited first: if the audit event cannot be stored, the change does not happen.
    await audit.record_by(
        events,
        request,
        admin,
        "upstream.registered",
        subject_id=upstream.served_model_name,
        **registered_details(current, upstream),
    )
    await catalog.register(upstream)
    response.status_code = status.HTTP_200_OK if current is not None else status.HTTP_201_CREATED
    return UpstreamInfo.model_validate(public_view(upstream))


@router.delete(
    "/upstreams/{name:path}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404)
)
async def remove_upstream(
    name: str, admin: Admin, catalog: Catalog, events: Events, request: Request
) -> Response:
    if catalog.get(name) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"Unknown model {name!r}.")
    await audit.record_by(events, request, admin, "upstream.removed", subject_id=name)
    await catalog.unregister(name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
