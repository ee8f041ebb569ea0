"""Model registry entries and model health, shared through JetStream KV buckets."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

EngineType = Literal["vllm", "llamacpp", "openai"]
HealthStatus = Literal["healthy", "loading", "unhealthy"]
UpstreamOrigin = Literal["file", "admin"]


class Upstream(BaseModel):
    """One registered model server (value in the registry bucket, key = served_model_name)."""

    model_config = ConfigDict(extra="forbid")

    served_model_name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:/-]+$")
    base_url: HttpUrl
    engine_type: EngineType = "openai"
    api_key: str | None = None
    context_size: int | None = Field(default=None, gt=0)
    max_tokens_default: int | None = Field(default=None, gt=0)
    request_defaults: dict[str, Any] | None = None
    task: str = "generate"
    # "file": declared in CORTEX_MODELS_FILE (the file keeps it in line with itself at start);
    # "admin": registered at run time (a restart never overwrites it).
    origin: UpstreamOrigin = "admin"


class HealthCheck(BaseModel):
    """One past poll result of an upstream, kept in `ModelHealth.history`."""

    status: HealthStatus
    latency_ms: float | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    checked_at: datetime


class ModelHealth(BaseModel):
    """Latest poll result for one upstream (value in the health bucket, entries expire)."""

    served_model_name: str
    status: HealthStatus
    latency_ms: float | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    checked_at: datetime
    max_model_len: int | None = None
    expires_after_sec: float | None = Field(
        default=None,
        gt=0,
        description="the publisher's TTL: readers treat the entry as gone this long after it",
    )
    history: list[HealthCheck] = Field(
        default_factory=list, description="the last checks, newest first, this one included"
    )

    def as_check(self) -> HealthCheck:
        return HealthCheck(
            status=self.status,
            latency_ms=self.latency_ms,
            last_error=self.last_error,
            consecutive_failures=self.consecutive_failures,
            checked_at=self.checked_at,
        )
