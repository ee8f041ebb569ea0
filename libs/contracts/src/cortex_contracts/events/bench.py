"""Benchmark runs, one subject per run and kind: `<prefix>.bench.<run_id>.<kind>` (topology).

A run is requested (with every setting that produces it), picked up by one bench replica
(started), measured level by level (raw per-request samples, then the level's figures), and
finished (complete, cancelled or failed). A cancel request is an event every replica hears.
Figures follow vLLM `bench serve` names and definitions (docs/benchmark-runs.md).
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cortex_contracts.envelope import Event

LoadShape = Literal["concurrency", "rate", "slo_search"]
PromptKind = Literal["fixed", "random", "jsonl"]
RunStatus = Literal["queued", "running", "complete", "cancelled", "failed"]
MAX_LEVELS = 16
MAX_PROMPTS = 1000
MAX_PROMPT_CHARS = 32_000


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PromptSettings(_Frozen):
    """fixed: `text` every time; random: words, `input_len` ± `input_len_stddev` of them per
    prompt (normal, seeded); jsonl: the uploaded prompts, in turn."""

    kind: PromptKind = "fixed"
    text: str = Field(
        default="Write a short story about a lighthouse.", max_length=MAX_PROMPT_CHARS
    )
    input_len: int = Field(default=128, ge=1, le=32_000)
    input_len_stddev: float = Field(default=0.0, ge=0)
    prompts: list[str] = Field(default_factory=list, max_length=MAX_PROMPTS)

    @model_validator(mode="after")
    def _has_prompts(self) -> "PromptSettings":
        if self.kind == "jsonl" and not self.prompts:
            raise ValueError("a jsonl prompt set needs at least one prompt")
        if any(len(p) > MAX_PROMPT_CHARS for p in self.prompts):
            raise ValueError(f"a prompt is longer than {MAX_PROMPT_CHARS} characters")
        return self


class Slo(_Frozen):
    """Service-level objectives in milliseconds (DistServe goodput, vLLM `--goodput`): a request
    is good when it meets every objective given."""

    ttft_ms: float | None = Field(default=None, gt=0)
    tpot_ms: float | None = Field(default=None, gt=0)
    e2el_ms: float | None = Field(default=None, gt=0)

    @property
    def given(self) -> bool:
        return any(v is not None for v in (self.ttft_ms, self.tpot_ms, self.e2el_ms))


class RunSettings(_Frozen):
    """What the user asks for. `levels` are concurrencies (shape concurrency), requests/s
    (rate), or the [lowest, highest] concurrency searched (slo_search)."""

    model: str = Field(min_length=1, max_length=200)
    shape: LoadShape = "concurrency"
    levels: list[float] = Field(default_factory=lambda: [1.0, 4.0, 16.0], min_length=1)
    requests_per_level: int | None = Field(default=50, ge=1)
    duration_per_level_sec: float | None = Field(default=None, gt=0, le=3600)
    prompt: PromptSettings = Field(default_factory=PromptSettings)
    output_tokens: int = Field(default=128, ge=1, le=32_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int = 0
    slo: Slo = Field(default_factory=Slo)
    #: slo_search: a level passes when this share of its requests is good
    slo_attainment: float = Field(default=0.9, gt=0, le=1)

    @model_validator(mode="after")
    def _consistent(self) -> "RunSettings":
        if (self.requests_per_level is None) == (self.duration_per_level_sec is None):
            raise ValueError("give either requests_per_level or duration_per_level_sec")
        if len(self.levels) > MAX_LEVELS:
            raise ValueError(f"at most {MAX_LEVELS} levels")
        if any(level <= 0 for level in self.levels):
            raise ValueError("every level must be greater than 0")
        if self.shape != "rate" and any(level != int(level) for level in self.levels):
            raise ValueError("concurrency levels are whole numbers")
        if self.shape == "slo_search":
            if len(self.levels) != 2 or self.levels[0] >= self.levels[1]:
                raise ValueError("an SLO search takes levels [lowest, highest] concurrency")
            if not self.slo.given:
                raise ValueError("an SLO search needs at least one SLO")
        return self

    @property
    def peak_concurrency(self) -> int | None:
        """None for a request rate (open loop: bounded by the admin's cap while it runs)."""
        return None if self.shape == "rate" else int(max(self.levels))


class Percentiles(_Frozen):
    mean: float | None = None
    median: float | None = None  # p50
    p90: float | None = None
    p99: float | None = None
    std: float | None = None


class LevelStats(_Frozen):
    """One level's figures, named as vLLM `bench serve` names them (milliseconds, seconds)."""

    completed: int = 0
    errors: int = 0
    duration_s: float = 0.0
    total_input_tokens: int = 0
    total_output_tokens: int = 0
    request_throughput: float = 0.0  # completed requests / s
    output_throughput: float = 0.0  # output tokens / s
    total_token_throughput: float = 0.0  # (input + output) tokens / s
    request_goodput: float | None = None  # good requests / s (None without SLOs)
    slo_attainment: float | None = None  # good / all requests of the level
    ttft_ms: Percentiles = Percentiles()
    tpot_ms: Percentiles = Percentiles()
    itl_ms: Percentiles = Percentiles()
    e2el_ms: Percentiles = Percentiles()


class RequestSample(_Frozen):
    """One request's raw timings (ms, from the level's start): every figure is recomputable."""

    start_ms: float
    ttft_ms: float | None = None
    e2el_ms: float | None = None
    itl_ms: list[float] = Field(default_factory=list)
    prompt_tokens: int = 0
    output_tokens: int = 0
    error: str | None = None


class EngineSample(_Frozen):
    """The engine's Prometheus gauges at `t_s` seconds after the run started (vLLM)."""

    t_s: float
    num_requests_running: float | None = None
    num_requests_waiting: float | None = None
    kv_cache_usage_perc: float | None = None


class BenchRunRequested(Event):
    """aggregate_id is the run id."""

    type: Literal["bench.run.requested"] = "bench.run.requested"
    settings: RunSettings
    engine_type: str
    gateway_version: str
    source: Literal["web", "cli", "api"] = "api"


class BenchRunStarted(Event):
    type: Literal["bench.run.started"] = "bench.run.started"
    replica: str
    engine_version: str | None = None
    max_context: int | None = None
    engine_metrics: bool = False  # the engine's /metrics answered


class BenchSamplesRecorded(Event):
    """A slice of a level's raw samples (a level may need several, each under a NATS message)."""

    type: Literal["bench.samples.recorded"] = "bench.samples.recorded"
    level_index: int = Field(ge=0)
    samples: list[RequestSample]


class BenchLevelRecorded(Event):
    type: Literal["bench.level.recorded"] = "bench.level.recorded"
    level_index: int = Field(ge=0)
    shape: LoadShape
    load: float  # the concurrency or the request rate
    stats: LevelStats
    partial: bool = False  # cut short by a cancel
    slo_passed: bool | None = None


class BenchEngineSampled(Event):
    type: Literal["bench.engine.sampled"] = "bench.engine.sampled"
    samples: list[EngineSample]


class BenchRunCancelRequested(Event):
    type: Literal["bench.run.cancel_requested"] = "bench.run.cancel_requested"


class BenchRunFinished(Event):
    type: Literal["bench.run.finished"] = "bench.run.finished"
    status: Literal["complete", "cancelled", "failed"]
    error: str | None = None
    slo_met: bool | None = None  # every level met the SLOs (sweep) / a passing level found
    best_load: float | None = None  # slo_search: the largest passing concurrency


BenchEvent = (
    BenchRunRequested
    | BenchRunStarted
    | BenchSamplesRecorded
    | BenchLevelRecorded
    | BenchEngineSampled
    | BenchRunCancelRequested
    | BenchRunFinished
)


def subject_kind(event: Event) -> str:
    """The last token of a bench event's subject: `requested`, `started`, `samples`, `level`,
    `engine`, `cancel_requested`, `finished` (Topology.bench_subject)."""
    _, family, verb = event.type.split(".")
    return verb if family == "run" else family
