"""GET /v1/models (OpenAI list), GET /v1/models/{name}/constraints, POST /v1/models/{name}/tokenize.

Model names may contain '/' (e.g. `meta-llama/Llama-3.1-8B`), hence the `:path` parameters.
"""

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cortex_contracts.events.models import Upstream
from cortex_gateway.auth.dependencies import User
from cortex_gateway.models.catalog import constraints_of
from cortex_gateway.models.deps import Catalog, Engines, Health
from cortex_gateway.models.engine import EngineClient
from cortex_gateway.models.health_view import HealthView
from cortex_gateway.models.views import ModelCard, ModelConstraints, ModelList, TokenizeAnswer
from cortex_gateway.openapi import AUTHENTICATED, STATE_CHANGING, WITH_BODY, errors

router = APIRouter(prefix="/v1/models", tags=["models"])

MAX_TOKENIZE_CHARS = 4 * 1024 * 1024
MAX_TOKENIZE_MESSAGES = 10_000


def registered_model(name: str, catalog: Catalog) -> Upstream:
    upstream = catalog.get(name)
    if upstream is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"Unknown model {name!r}.")
    return upstream


Model = Annotated[Upstream, Depends(registered_model)]


async def known_max_model_len(
    health: HealthView, engines: EngineClient, upstream: Upstream
) -> int | None:
    """Configured, else reported by the health service, else asked from the engine (cached)."""
    reported = health.get(upstream.served_model_name)
    known = reported.max_model_len if reported is not None else None
    return await engines.max_model_len(upstream, known=known)


async def model_constraints(
    health: HealthView, engines: EngineClient, upstream: Upstream
) -> dict[str, Any]:
    return constraints_of(upstream, await known_max_model_len(health, engines, upstream))


@router.get("", responses=errors(*AUTHENTICATED))
async def list_models(_: User, catalog: Catalog) -> ModelList:
    """OpenAI's model list, for SDKs pointed at the gateway (every registered model)."""
    created = int(time.time())
    return ModelList(
        data=[
            ModelCard(id=u.served_model_name, created=created, owned_by="cortex")
            for u in catalog.all()
        ]
    )


@router.get("/{name:path}/constraints", responses=errors(404, *AUTHENTICATED))
async def get_constraints(
    _: User, upstream: Model, health: Health, engines: Engines
) -> ModelConstraints:
    return ModelConstraints.model_validate(await model_constraints(health, engines, upstream))


class PromptMessage(BaseModel):
    role: str = Field(max_length=50)
    content: str | list[Any] | None = None


class TokenizeRequest(BaseModel):
    # Exactly one of the two, as a schema says it (a null one counts as absent).
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["messages"], "properties": {"messages": {"type": "array"}}},
                {"required": ["text"], "properties": {"text": {"type": "string"}}},
            ]
        }
    )

    messages: list[PromptMessage] | None = Field(default=None, max_length=MAX_TOKENIZE_MESSAGES)
    text: str | None = Field(default=None, max_length=MAX_TOKENIZE_CHARS)
    with_tokens: bool = Field(
        default=False,
        strict=True,
        description="also answer the prompt's tokens as text (`messages` only)",
    )

    @model_validator(mode="after")
    def _one_input(self) -> "TokenizeRequest":
        if (self.messages is None) == (self.text is None):
            raise ValueError("send either `messages` or `text`")
        return self


# `tokens` is left out unless asked for, so the answer stays what it was before `with_tokens`.
@router.post(
    "/{name:path}/tokenize",
    responses=errors(404, *STATE_CHANGING, *WITH_BODY),
    response_model_exclude_none=True,
)
async def tokenize(
    _: User, upstream: Model, body: TokenizeRequest, health: Health, engines: Engines
) -> TokenizeAnswer:
    if body.messages is not None:
        messages = [m.model_dump() for m in body.messages]
        counted = await engines.count_tokens(upstream, messages=messages)
    else:
        counted = await engines.count_tokens(upstream, text=body.text)
    tokens = None
    if body.with_tokens and body.messages is not None:
        tokens = await engines.prompt_tokens(upstream, [m.model_dump() for m in body.messages])
    max_len = await known_max_model_len(health, engines, upstream)
    return TokenizeAnswer(
        count=counted.count, max_model_len=max_len, exact=counted.exact, tokens=tokens
    )
