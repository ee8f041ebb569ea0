"""OpenAI-shaped errors: `{"error": {"message", "type", "code"}}`, as HTTP answers and SSE events.

The official SDKs read `error.message`; `code` names the case for programs.
"""

import json
from typing import Any

from fastapi.responses import JSONResponse

from cortex_gateway.completions.sse import sse_event

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def error_body(
    status: int, message: str, *, type_: str | None = None, code: str | int | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_ or error_type(status), "code": code}}


class CompletionError(Exception):
    """A failure to answer before any byte was streamed: becomes an HTTP error answer."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        type_: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.type_ = type_
        self.headers = headers

    def response(self, extra_headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(
            error_body(self.status, self.message, type_=self.type_, code=self.code),
            status_code=self.status,
            headers={**(self.headers or {}), **(extra_headers or {})},
        )


def upstream_error(status: int, body: bytes) -> CompletionError:
    """The model server's error answer, passed on with its message.

    Its 401/403 concern the gateway's own credentials for the server, not the caller's: 502.
    """
    message, type_, code = _upstream_error_fields(body)
    message = message or f"The model server answered HTTP {status}."
    if status in (401, 403):
        return CompletionError(
            502,
            f"The model server refused the gateway's credentials: {message}",
            code="upstream_auth",
        )
    return CompletionError(status, message, type_=type_ or error_type(status), code=code)


def _upstream_error_fields(body: bytes) -> tuple[str | None, str | None, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return (text[:1000] or None), None, None
    if not isinstance(data, dict):
        return None, None, None
    error = data.get("error", data)
    if isinstance(error, str):
        return error, None, None
    if not isinstance(error, dict):
        return None, None, None
    message = error.get("message") or error.get("detail") or data.get("detail")
    type_ = error.get("type")
    return (
        str(message) if message else None,
        str(type_) if isinstance(type_, str) else None,
        error.get("code"),
    )


def error_event(message: str, *, code: str, type_: str = "upstream_error") -> bytes:
    """A mid-stream failure: `event: error` with an OpenAI error body (SDKs raise on it)."""
    body = {"error": {"message": message, "type": type_, "code": code}}
    return sse_event(json.dumps(body).encode(), name="error")
