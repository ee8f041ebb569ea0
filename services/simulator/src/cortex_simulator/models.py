"""Model configuration (static) and per-model runtime state (timing overrides, faults, counters)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Personality = Literal["vllm", "llamacpp", "openai"]


class ModelConfig(BaseModel):
    """One simulated model server.

    For ``llamacpp``, ``max_context`` is the total ``n_ctx`` (llama-server ``-c``) shared by
    ``slots`` parallel slots, so one request may use ``max_context // slots`` tokens. For the
    other personalities one request may use ``max_context`` tokens.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    personality: Personality = "vllm"
    max_context: int = Field(default=8192, ge=16)
    ttft_ms: float = Field(default=80.0, ge=0)
    itl_ms: float = Field(default=15.0, ge=0)
    output_tokens: int = Field(default=120, ge=1)
    tokens_per_chunk: int = Field(default=1, ge=1)
    slots: int = Field(default=1, ge=1)
    reasoning: bool = False
    reasoning_tokens: int = Field(default=32, ge=0)
    n_ctx_train: int | None = Field(default=None, ge=1)
    model_path: str | None = None
    # False: like a server without token probabilities, `logprobs` is accepted and ignored.
    logprobs: bool = True
    # False: like llama-cpp-python's server with a plain chat template, `tools` are accepted and
    # answered in text unless `tool_choice` names a function (bench/real_engine.py found it so).
    tool_calls_auto: bool = True

    @model_validator(mode="after")
    def _check_slots(self) -> ModelConfig:
        if self.personality == "llamacpp" and self.max_context // self.slots < 16:
            raise ValueError(f"max_context {self.max_context} is too small for {self.slots} slots")
        return self

    @property
    def context_per_request(self) -> int:
        """Largest prompt + completion one request may use."""
        if self.personality == "llamacpp":
            return self.max_context // self.slots
        return self.max_context


DEFAULT_MODELS: tuple[ModelConfig, ...] = (
    ModelConfig(name="sim-vllm-small"),  # the defaults: vLLM, 8k context, 80/15 ms, 120 tokens
    ModelConfig(
        name="sim-llamacpp-large",
        personality="llamacpp",
        max_context=131072,
        slots=4,
        ttft_ms=150,
        itl_ms=25,
        output_tokens=160,
    ),
)


@dataclass(slots=True)
class Faults:
    """Injected faults (all off by default)."""

    fail_status: int | None = None
    fail_message: str = "Simulated upstream failure"
    drop_after_tokens: int | None = None
    hang: bool = False
    down: bool = False
    loading: bool = False
    # Share of structured answers (JSON output, tool-call arguments) made invalid on purpose.
    break_rate: float = 0.0
    break_seed: int = 0


@dataclass(slots=True)
class Counters:
    """Request accounting, read by tests through ``GET /_control/<model>``."""

    requests_total: int = 0
    failed_requests: int = 0
    active_streams: int = 0
    completed_streams: int = 0
    cancelled_streams: int = 0
    dropped_streams: int = 0
    dropped_requests: int = 0
    streamed_tokens: int = 0
    active_requests: int = 0
    completed_requests: int = 0
    cancelled_requests: int = 0
    structured_answers: int = 0  # JSON answers and tool calls: the broken mode's position


@dataclass(slots=True)
class Timing:
    """Effective generation settings (config values unless overridden at runtime)."""

    ttft_ms: float
    itl_ms: float
    output_tokens: int
    tokens_per_chunk: int

    @classmethod
    def from_config(cls, config: ModelConfig) -> Timing:
        return cls(config.ttft_ms, config.itl_ms, config.output_tokens, config.tokens_per_chunk)


@dataclass(slots=True)
class ModelState:
    """A simulated model: its config plus mutable runtime state."""

    config: ModelConfig
    timing: Timing = field(init=False)
    faults: Faults = field(default_factory=Faults)
    counters: Counters = field(default_factory=Counters)
    created: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self) -> None:
        self.timing = Timing.from_config(self.config)

    @property
    def name(self) -> str:
        return self.config.name

    def reset(self) -> None:
        """Restore the configured timing, clear faults and zero the counters.

        Faults are cleared in place (running streams watch that object); counters are replaced,
        so streams still running keep counting into the old object.
        """
        self.timing = Timing.from_config(self.config)
        clean = Faults()
        for name in Faults.__dataclass_fields__:
            setattr(self.faults, name, getattr(clean, name))
        self.counters = Counters()

    def snapshot(self) -> dict[str, Any]:
        """Everything ``GET /_control/<model>`` shows."""
        return {
            "model": self.name,
            "personality": self.config.personality,
            **asdict(self.counters),
            **asdict(self.faults),
            **asdict(self.timing),
            "config": self.config.model_dump(),
        }


class Registry:
    """All simulated models, by name (insertion order kept)."""

    def __init__(self, configs: list[ModelConfig]) -> None:
        self.models: dict[str, ModelState] = {c.name: ModelState(c) for c in configs}

    def get(self, name: str) -> ModelState | None:
        return self.models.get(name)

    def __iter__(self) -> Iterator[ModelState]:
        return iter(self.models.values())
