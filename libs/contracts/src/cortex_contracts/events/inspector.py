"""Events of the inspector: saved presets, and the structured-output / tool-call checks kept
with a chat. Stream `<PREFIX>_INSPECT`; one subject per preset (under its org and owner, so a
user's and an org's presets are each one subject filter) and one per chat (under its owner).
The current state of a subject is its newest event (read with a direct get).
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter

from cortex_contracts.envelope import Event

MAX_NAME = 100
MAX_SYSTEM_PROMPT = 20_000
MAX_FAILURES_KEPT = 50


def _number(value: Any) -> Any:
    """JSON numbers only: pydantic's lax mode would also take `false` or `"1"` as numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    return value


# A JSON Schema integer may be written 3.0; a float with a fraction is still refused.
Whole = Annotated[int, BeforeValidator(_number)]
Number = Annotated[float, BeforeValidator(_number)]


class PresetBody(BaseModel):
    """What a preset sets in the playground: the system prompt, sampling, schema and tools."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    system_prompt: str = Field(default="", max_length=MAX_SYSTEM_PROMPT)
    temperature: Annotated[float, Field(ge=0, le=2), BeforeValidator(_number)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1), BeforeValidator(_number)] | None = None
    max_tokens: Annotated[int, Field(ge=1), BeforeValidator(_number)] | None = None
    seed: Whole | None = Field(default=None)
    logprobs: bool = Field(default=True, strict=True)
    top_logprobs: Whole = Field(default=5, ge=0, le=20)
    output_schema: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None


class PresetSaved(Event):
    """Created or replaced (`aggregate_id`: the preset's id). `shared`: the owner's org sees it."""

    type: Literal["inspect.preset.saved"] = "inspect.preset.saved"
    name: str = Field(min_length=1, max_length=MAX_NAME)
    shared: bool = Field(default=False, strict=True)
    preset: PresetBody


class PresetDeleted(Event):
    type: Literal["inspect.preset.deleted"] = "inspect.preset.deleted"


class SchemaFailure(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    run: Whole = Field(ge=0)
    path: str = Field(max_length=500)
    message: str = Field(max_length=500)


class BatchReport(BaseModel):
    """A schema batch: the prompt sent `runs` times, each answer validated in the browser."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(max_length=200)
    prompt: str = Field(max_length=MAX_SYSTEM_PROMPT)
    runs: Whole = Field(ge=1)
    valid: Whole = Field(ge=0)
    errors: Whole = Field(default=0, ge=0, description="requests that failed outright")
    latency_ms_p50: Number | None = Field(default=None)
    latency_ms_p95: Number | None = Field(default=None)
    latency_ms_max: Number | None = Field(default=None)
    failures: list[SchemaFailure] = Field(default_factory=list, max_length=MAX_FAILURES_KEPT)
    finished_at: datetime


class ChatInspectorSaved(Event):
    """The checks kept with a chat (`aggregate_id`: the chat session's id)."""

    type: Literal["inspect.chat.saved"] = "inspect.chat.saved"
    output_schema: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    batch: BatchReport | None = None


AnyInspectorEvent = Annotated[
    PresetSaved | PresetDeleted | ChatInspectorSaved, Field(discriminator="type")
]
inspector_event_adapter: TypeAdapter[AnyInspectorEvent] = TypeAdapter(AnyInspectorEvent)


def parse_inspector_event(data: bytes) -> AnyInspectorEvent:
    return inspector_event_adapter.validate_json(data)
