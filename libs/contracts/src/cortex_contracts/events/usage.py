"""Completion metrics, one event per completion (playground or API, success or failure)."""

from typing import Literal

from pydantic import Field

from cortex_contracts.envelope import Event

UsageSource = Literal["playground", "api"]
CompletionStatus = Literal["complete", "stopped", "abandoned", "error"]


class CompletionRecorded(Event):
    """aggregate_id is the completion id."""

    type: Literal["usage.completion.recorded"] = "usage.completion.recorded"
    api_key_id: str | None = None
    model: str
    engine_type: str
    source: UsageSource
    stream: bool
    status: CompletionStatus
    error: str | None = None
    http_status: int = 200
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    total_tokens: int = Field(default=0, ge=0)
    ttft_ms: float | None = None
    latency_ms: float = Field(ge=0)
    decode_tokens_per_s: float | None = None
    chat_session_id: str | None = None
    finish_reason: str | None = None
