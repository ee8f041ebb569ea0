"""Queries the gateway sends the bench service (`/v1/bench/runs...`), and their answers."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from cortex_contracts.events.bench import (
    EngineSample,
    LevelStats,
    LoadShape,
    RequestSample,
    RunSettings,
    RunStatus,
)

MAX_RUNS_LISTED = 200


class BenchRunsQuery(BaseModel):
    """Runs newest first; `user_id` None lists everyone's (an administrator asks)."""

    model: str | None = None
    user_id: str | None = None
    limit: int = Field(default=50, ge=1, le=MAX_RUNS_LISTED)


class BenchRunQuery(BaseModel):
    run_id: str = Field(min_length=1, max_length=64)
    user_id: str | None = None
    include_samples: bool = False


class Progress(BaseModel):
    """Where a running run is: level `level` of `levels` (None while searching), `done` of
    `total` requests of that level (`total` None for a duration), `elapsed_s` in it."""

    level: int = 0
    levels: int | None = None
    done: int = 0
    total: int | None = None
    elapsed_s: float = 0.0
    fraction: float = Field(default=0.0, ge=0, le=1, description="of the whole run, for a bar")


class RunSummary(BaseModel):
    id: str
    model: str
    shape: LoadShape
    levels: list[float]
    status: RunStatus
    user_id: str | None
    source: str
    created_at: datetime
    finished_at: datetime | None = None
    error: str | None = None
    slo_met: bool | None = None
    best_load: float | None = None


class LevelView(BaseModel):
    index: int
    load: float
    partial: bool = False
    slo_passed: bool | None = None
    stats: LevelStats
    samples: list[RequestSample] | None = None  # with include_samples


class BenchRunView(BaseModel):
    summary: RunSummary
    settings: RunSettings
    engine_type: str
    engine_version: str | None = None
    max_context: int | None = None
    gateway_version: str
    replica: str | None = None
    levels: list[LevelView]
    engine_samples: list[EngineSample]
    progress: Progress | None = None


class BenchRunList(BaseModel):
    runs: list[RunSummary]


class BenchLimits(BaseModel):
    """The administrator's guard rails (`PUT /admin/bench/limits`, audited). The rule: on any one
    model at most one run goes on at a time, and it holds at most `max_concurrency` streams
    open (a request rate included: arrivals beyond it wait), so interactive users always share
    the model with no more than `max_concurrency` benchmark streams."""

    who: Literal["admins", "everyone"] = "admins"
    max_concurrency: int = Field(default=64, ge=1, le=1024)
    max_requests: int = Field(default=2000, ge=1, le=100_000, description="per run, all levels")
    max_duration_sec: float = Field(default=1800, gt=0, le=86_400, description="per run")
