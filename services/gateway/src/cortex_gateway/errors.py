"""Domain errors become JSON `{"detail": ...}` answers with the right status."""

import logging

import nats.errors
import nats.js.errors
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from cortex_gateway.chat.commands import (
    EventTooLarge,
    ModelLocked,
    SessionNotFound,
    TooManyConflicts,
)
from cortex_gateway.completions.entry import COMPLETIONS_PATH
from cortex_gateway.completions.errors import error_body
from cortex_runtime.query import QueryFailed

log = logging.getLogger(__name__)

# PostgreSQL unreachable, frozen or restarting (the engine bounds every wait: db.py), or a pool
# with no free connection in time.
DATABASE_DOWN = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
)
# NATS unreachable or not answering in time (the JetStream context's timeout bounds the wait),
# or a JetStream without a stream leader for the moment.
NATS_DOWN = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
)
OUTAGE_RETRY_AFTER_SEC = "2"


def install_error_handlers(app: FastAPI) -> None:
    install_validation_handler(app)
    for database_error in DATABASE_DOWN:
        app.add_exception_handler(database_error, _database_down)
    for nats_error in NATS_DOWN:
        app.add_exception_handler(nats_error, _nats_down)

    @app.exception_handler(SessionNotFound)
    async def _not_found(_: Request, __: SessionNotFound) -> JSONResponse:
        return JSONResponse({"detail": "Chat session not found."}, status_code=404)

    @app.exception_handler(ModelLocked)
    async def _locked(_: Request, error: ModelLocked) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=409)

    @app.exception_handler(TooManyConflicts)
    async def _conflicts(_: Request, error: TooManyConflicts) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(EventTooLarge)
    async def _too_large(_: Request, error: EventTooLarge) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=413)

    @app.exception_handler(QueryFailed)
    async def _query_failed(_: Request, error: QueryFailed) -> JSONResponse:
        headers = {}
        if error.reply.retry_after is not None:
            headers["Retry-After"] = str(max(1, round(error.reply.retry_after)))
        return JSONResponse(
            {"detail": error.reply.error}, status_code=error.reply.status, headers=headers
        )


async def _database_down(request: Request, error: Exception) -> JSONResponse:
    log.warning("%s %s: database unavailable: %r", request.method, request.url.path, error)
    return unavailable(request, "The database is not answering right now. Try again shortly.")


async def _nats_down(request: Request, error: Exception) -> JSONResponse:
    log.warning("%s %s: NATS unavailable: %r", request.method, request.url.path, error)
    return unavailable(request, "The event store is not answering right now. Try again shortly.")


def unavailable(request: Request, message: str) -> JSONResponse:
    """503 with Retry-After; OpenAI-shaped under /v1/chat/completions, like its other errors."""
    body = (
        error_body(503, message, code="service_unavailable")
        if request.url.path.startswith(COMPLETIONS_PATH)
        else {"detail": message}
    )
    return JSONResponse(body, status_code=503, headers={"Retry-After": OUTAGE_RETRY_AFTER_SEC})


def install_validation_handler(app: FastAPI) -> None:
    """422 with one readable sentence in `detail`, plus the structured list in `errors`."""
    from fastapi.encoders import jsonable_encoder
    from fastapi.exceptions import RequestValidationError

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = []
        for item in error.errors():
            where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
            problems.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
        return JSONResponse(
            {
                "detail": "Invalid request: " + "; ".join(problems),
                "errors": jsonable_encoder(error.errors()),
            },
            status_code=422,
        )
