"""What the /v1/models routes answer (response models of the HTTP contract)."""

from typing import Any, Literal

from pydantic import BaseModel, Field

from cortex_contracts.events.models import EngineType


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    """OpenAI's model list."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


class RunningModel(BaseModel):
    served_model_name: str
    engine_type: EngineType
    task: str
    state: Literal["running"]
    max_model_len: int | None


class RunningModels(BaseModel):
    models: list[RunningModel]


class ModelConstraints(BaseModel):
    """What a chat needs to know of its model (also a session's `constraints_json`)."""

    served_model_name: str
    engine_type: EngineType
    task: str
    context_size: int | None
    max_model_len: int | None
    max_tokens_default: int | None
    request_defaults: dict[str, Any] | None
    supports_streaming: bool
    supports_system_prompt: bool


class TokenizeAnswer(BaseModel):
    count: int
    max_model_len: int | None
    exact: bool
    tokens: list[str] | None = Field(
        default=None,
        description="with `with_tokens`: the prompt's tokens as text, when the engine gives them",
    )
