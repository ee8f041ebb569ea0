"""What the admin API answers about model servers and usage (response models of the contract)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from cortex_contracts.events.models import EngineType, HealthStatus, UpstreamOrigin
from cortex_contracts.messages.usage import GroupBy, UsageGroup, UsageRecord


class UpstreamInfo(BaseModel):
    """A registry entry as shown: the server's own API key never is, only whether there is one."""

    served_model_name: str
    base_url: str
    engine_type: EngineType
    context_size: int | None
    max_tokens_default: int | None
    request_defaults: dict[str, Any] | None
    task: str
    origin: UpstreamOrigin
    has_api_key: bool


class HealthCheckInfo(BaseModel):
    served_model_name: str
    status: HealthStatus
    latency_ms: float | None
    last_error: str | None
    consecutive_failures: int
    checked_at: datetime


class HealthInfo(HealthCheckInfo):
    max_model_len: int | None


class UpstreamWithHealth(UpstreamInfo):
    health: HealthInfo | None
    history: list[HealthCheckInfo]


class UpstreamList(BaseModel):
    upstreams: list[UpstreamWithHealth]


class RefreshResults(BaseModel):
    results: list[HealthInfo]
    unknown: list[str]


class UsageRecordView(UsageRecord):
    username: str | None
    org_name: str | None


class UsageRecordList(BaseModel):
    records: list[UsageRecordView]
    next_cursor: str | None


class UsageGroupView(UsageGroup):
    label: str | None


class UsageGroupList(BaseModel):
    group_by: GroupBy
    groups: list[UsageGroupView]
