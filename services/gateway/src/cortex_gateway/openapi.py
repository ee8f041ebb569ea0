"""The HTTP contract's shared parts: the error bodies, the statuses each kind of route answers, and
the OpenAPI document (`cortex-gateway openapi`, in __main__.py, writes it; `make schemas` turns it
into the web UI's types).

Every error is `{"detail": str, "errors"?: [...]}` (errors.py), except under
`/v1/chat/completions`, where it is OpenAI's `{"error": {"message", "type", "code"}}`
(completions/errors.py). Routes declare their statuses with `errors(...)` or
`openai_errors(...)`; the document is then checked against the running gateway by schemathesis
(tests/e2e/test_api_contract.py).
"""

import json
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, JsonValue

ResponseSpec = dict[int | str, dict[str, Any]]

WHY = {
    400: "Malformed request",
    401: "Not logged in, or the session or API key is no longer valid",
    403: "Not allowed: missing CSRF header, or not an administrator",
    404: "Not found (or not yours)",
    409: "Conflicts with the current state",
    413: "Request body or content over its size limit",
    422: "Invalid request: `detail` says what, `errors` lists each problem",
    429: "Too many attempts: retry after `Retry-After` seconds",
    499: "The client closed the connection before the answer",
    502: "A backing service or model server answered nonsense or failed",
    503: "A backing service (NATS, PostgreSQL, a model) is unavailable: retry after `Retry-After`",
    504: "The model server did not answer in time",
}
RETRY_AFTER = {
    "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}
}
# Every route behind a login; `AUTHENTICATED` for GETs, `STATE_CHANGING` where CSRF is checked.
AUTHENTICATED = (401, 503)
STATE_CHANGING = (401, 403, 503)
ADMIN = (401, 403, 503)  # 403: not an administrator (or, on a change, no CSRF header)
WITH_BODY = (400, 413, 422)
OPENAI_PATHS = "/v1/chat/completions"
# For text refused with a NUL character (PostgreSQL cannot store one): `Field(json_schema_extra=)`.
NO_NUL: dict[str, JsonValue] = {"pattern": "^[^\\x00]*$"}


class ValidationProblem(BaseModel):
    """One problem found in the request, as pydantic reports it."""

    model_config = ConfigDict(extra="allow")

    type: str
    loc: list[str | int]
    msg: str
    input: Any = None


class ErrorBody(BaseModel):
    """Every error of the gateway's own API."""

    detail: str = Field(description="one readable sentence")
    errors: list[ValidationProblem] | None = Field(
        default=None, description="for 422: each problem found in the request"
    )


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    code: str | int | None = None


class OpenAIErrorBody(BaseModel):
    """Every error under /v1/chat/completions, as OpenAI's SDKs read it."""

    error: OpenAIErrorDetail


def _spec(status: int, model: type[BaseModel]) -> dict[str, Any]:
    spec: dict[str, Any] = {"model": model, "description": WHY.get(status, "Error")}
    if status in (429, 503):
        spec["headers"] = RETRY_AFTER
    return spec


def errors(*statuses: int) -> ResponseSpec:
    """`responses=` for a route of the gateway's own API that may answer these error statuses."""
    return {status: _spec(status, ErrorBody) for status in sorted(set(statuses))}


def openai_errors(*statuses: int) -> ResponseSpec:
    return {status: _spec(status, OpenAIErrorBody) for status in sorted(set(statuses))}


def install_openapi(app: FastAPI) -> None:
    """FastAPI documents a 422 of its own shape wherever a route has parameters; the gateway
    answers `ErrorBody` (OpenAI's shape under /v1/chat/completions), so the document says that."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        components = schema.get("components", {}).get("schemas", {})
        if components.pop("HTTPValidationError", None) is not None:
            components.pop("ValidationError", None)
            for path, operations in schema["paths"].items():
                model = OpenAIErrorBody if path.startswith(OPENAI_PATHS) else ErrorBody
                for operation in operations.values():
                    answer = operation.get("responses", {}).get("422")
                    if answer and "HTTPValidationError" in json.dumps(answer):
                        answer["content"]["application/json"]["schema"] = {
                            "$ref": f"#/components/schemas/{model.__name__}"
                        }
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
