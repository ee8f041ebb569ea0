"""Domain errors become JSON `{"detail": ...}` answers with the right status."""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from cortex_gateway.chat.commands import (
    EventTooLarge,
    ModelLocked,
    SessionNotFound,
    TooManyConflicts,
)
from cortex_runtime.query import QueryFailed


def install_error_handlers(app: FastAPI) -> None:
    install_validation_handler(app)

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
