"""Refresh-health request/reply between the gateway and a health replica (queue group)."""

from pydantic import BaseModel, Field

from cortex_contracts.events.models import ModelHealth


class RefreshHealth(BaseModel):
    """Probe now and publish: the named models, or every registered one when `models` is None."""

    models: list[str] | None = None
    timeout_sec: float | None = Field(
        default=None, gt=0, description="the caller's budget: probes are cut short to fit in it"
    )


class RefreshedHealth(BaseModel):
    health: ModelHealth
    revision: int | None = Field(
        default=None, description="health bucket revision of the put (None if it failed)"
    )


class RefreshHealthReply(BaseModel):
    results: list[RefreshedHealth]
    unknown: list[str] = Field(default_factory=list, description="names not in the registry")
