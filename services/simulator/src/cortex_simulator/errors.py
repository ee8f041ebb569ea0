"""OpenAI-shaped errors and the simulated connection drop."""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar

from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("cortex_simulator")

ERROR_TYPES: dict[int, str] = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    408: "TimeoutError",
    409: "ConflictError",
    413: "BadRequestError",
    422: "UnprocessableEntityError",
    429: "RateLimitError",
    500: "InternalServerError",
    501: "NotImplementedError",
    502: "BadGatewayError",
    503: "ServiceUnavailableError",
    504: "GatewayTimeoutError",
}


def error_type(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "InternalServerError" if status >= 500 else "BadRequestError"


def error_body(status: int, message: str, type_: str | None = None) -> bytes:
    body = {"error": {"message": message, "type": type_ or error_type(status), "code": status}}
    return json.dumps(body).encode("utf-8")


def openai_error(status: int, message: str, type_: str | None = None) -> Response:
    """``{"error": {"message", "type", "code"}}`` with ``status``."""
    return Response(
        content=error_body(status, message, type_),
        status_code=status,
        media_type="application/json",
    )


class SimulatedError(Exception):
    """Raised inside request handling; turned into an OpenAI-shaped error response."""

    def __init__(self, status: int, message: str, type_: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type_ = type_

    def response(self) -> Response:
        return openai_error(self.status, self.message, self.type_)


class ConnectionDropped(Exception):
    """Raised mid-response to cut the connection (fault ``drop_after_tokens``)."""


_dropping: ContextVar[bool] = ContextVar("cortex_simulator_dropping", default=False)
_INCOMPLETE_MSG = "ASGI callable returned without completing response."


class _ExpectedDropFilter(logging.Filter):
    """Hide uvicorn's complaint about a response we cut on purpose (same task context only)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_dropping.get() and record.msg == _INCOMPLETE_MSG)


def install_drop_log_filter() -> None:
    server_logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _ExpectedDropFilter) for f in server_logger.filters):
        server_logger.addFilter(_ExpectedDropFilter())


class DropConnectionMiddleware:
    """Swallow ConnectionDropped: the server then closes the half-sent response's connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except ConnectionDropped as exc:
            _dropping.set(True)
            logger.info("simulated connection drop: %s", exc)
