"""GET /admin/parked: how many events each consumer set aside (parked on the dead-letter stream:
malformed, oversized, wrong-version, rejected by the rules, or failing again and again).

The originals stay in their streams; once the cause is fixed, `cortex-<service> rebuild` replays
them with everything else (docs/runtime.md)."""

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cortex_gateway.auth.dependencies import Admin
from cortex_gateway.deps import Events
from cortex_gateway.openapi import ADMIN, errors
from cortex_runtime.parking import parked_counts

router = APIRouter(prefix="/admin", tags=["admin"], responses=errors(*ADMIN))


class ParkedCount(BaseModel):
    consumer: str = Field(description="the durable consumer, e.g. sessions-projector")
    parked: int = Field(description="events on the dead-letter stream (kept 30 days)")


class ParkedEvents(BaseModel):
    consumers: list[ParkedCount]


@router.get("/parked")
async def parked_events(_: Admin, events: Events) -> ParkedEvents:
    counts = await parked_counts(events.js, events.topology)
    return ParkedEvents(
        consumers=[ParkedCount(consumer=name, parked=n) for name, n in sorted(counts.items())]
    )
