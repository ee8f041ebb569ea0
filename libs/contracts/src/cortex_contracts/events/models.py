"""Model registry entries and model health, shared through JetStream KV buckets."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

EngineType = Literal["vllm", "llamacpp", "openai"]
HealthStatus = Literal["healthy", "loading", "unhealthy"]


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


class ModelHealth(BaseModel):
    """Latest poll result for one upstream (value in the health bucket, entries expire)."""

    served_model_name: str
    status: HealthStatus
    latency_ms: float | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    checked_at: datetime
    max_model_len: int | None = None
