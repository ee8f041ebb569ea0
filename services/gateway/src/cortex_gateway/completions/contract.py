"""How /v1/chat/completions is documented: the route reads its body itself (request.py), so the
request and the answers are described here for the OpenAPI document."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cortex_gateway.completions.relay import COMPLETION_ID_HEADER
from cortex_gateway.completions.request import MAX_MODEL_NAME
from cortex_gateway.openapi import OpenAIErrorBody, ResponseSpec, openai_errors


class ChatCompletionRequest(BaseModel):
    """What the gateway checks; every other field goes to the model server as sent."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=MAX_MODEL_NAME)
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool | None = None
    stream_options: dict[str, Any] | None = None


COMPLETION_ID = {
    COMPLETION_ID_HEADER: {
        "description": "the completion's id, to stop it (POST .../{id}/stop)",
        "schema": {"type": "string"},
    }
}
REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": ChatCompletionRequest.model_json_schema()}},
    }
}
COMPLETION_ANSWERS: ResponseSpec = {
    200: {
        "description": "The model server's answer: a chat completion, or with `stream: true` "
        "its server-sent events (an error after the first byte comes as `event: error`)",
        "headers": COMPLETION_ID,
        "content": {
            "application/json": {"schema": {"type": "object", "additionalProperties": True}},
            "text/event-stream": {"schema": {"type": "string"}},
        },
    },
    **openai_errors(400, 401, 403, 404, 409, 413, 422, 429, 502, 503),
    # The model server's own errors are passed on with their status.
    "4XX": {"model": OpenAIErrorBody, "description": "The model server's refusal, passed on"},
    "5XX": {"model": OpenAIErrorBody, "description": "The model server's failure, passed on"},
}
STOP_ANSWERS: ResponseSpec = {
    204: {"description": "Stopped: the stream ends with what was generated so far"},
    **openai_errors(401, 403, 404, 503),
}
