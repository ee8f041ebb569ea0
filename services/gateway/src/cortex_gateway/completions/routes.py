"""POST /v1/chat/completions (OpenAI-compatible) and POST /v1/chat/completions/{id}/stop.

Auth: session cookie with CSRF, or API key. Every answer from here, errors included, is
OpenAI-shaped. Playground extensions (headers, all optional) are described in docs/api.md.
"""

import asyncio
import time
import uuid

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from cortex_gateway.auth.dependencies import require_user
from cortex_gateway.auth.principal import Principal
from cortex_gateway.completions.contract import COMPLETION_ANSWERS, REQUEST_BODY, STOP_ANSWERS
from cortex_gateway.completions.errors import CompletionError
from cortex_gateway.completions.playground import REGENERATE_HEADER, SESSION_HEADER, bind_session
from cortex_gateway.completions.relay import (
    COMPLETION_ID_HEADER,
    ClientGone,
    RelayResponse,
    close_run,
    open_upstream,
    recorded,
    relay_whole,
)
from cortex_gateway.completions.request import ClientRequest, read_client_request
from cortex_gateway.completions.run import CompletionRun, Failure
from cortex_gateway.completions.runtime import CompletionRuntime
from cortex_gateway.completions.stop import listen_for_stop, request_stop

router = APIRouter(tags=["completions"])

METRICS_HEADER = "X-Cortex-Metrics"
IDEMPOTENCY_HEADER = "Idempotency-Key"
CLIENT_CLOSED_REQUEST = 499  # nginx's code: nobody reads it, the log does
UNAVAILABLE_RETRY_AFTER_SEC = "5"
BAD_API_KEY = "Invalid, expired or revoked API key."
BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def header_flag(request: Request, name: str) -> bool:
    return request.headers.get(name, "").strip().lower() in ("true", "1", "yes")


async def authenticate(request: Request, state: CompletionRuntime) -> Principal:
    """An API key, else the session cookie with CSRF (both cached briefly: auth/cache.py)."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        principal = await state.credentials.api_keys.principal(state.database, key.strip())
        if principal is None:
            raise CompletionError(
                401, BAD_API_KEY, type_="authentication_error", headers=BEARER_CHALLENGE
            )
        return principal
    try:
        return await require_user(request, state.database, state.settings, state.credentials)
    except HTTPException as denied:
        raise CompletionError(
            denied.status_code, str(denied.detail), headers=dict(denied.headers or {})
        ) from None


def app_state(request: Request) -> CompletionRuntime:
    """Read directly, not through a dependency: the hot path skips FastAPI's dependency work."""
    state: CompletionRuntime = request.app.state.completions
    return state


@router.post(
    "/v1/chat/completions",
    response_model=None,
    responses=COMPLETION_ANSWERS,
    openapi_extra=REQUEST_BODY,
)
async def chat_completions(request: Request) -> Response:
    received = time.perf_counter()
    state = app_state(request)
    try:
        principal = await authenticate(request, state)
        client = await read_client_request(request, state.settings.max_completion_request_bytes)
    except CompletionError as refused:
        return refused.response()
    return await serve(
        state, request, principal, client, received, request.headers.get(SESSION_HEADER)
    )


async def serve(
    state: CompletionRuntime,
    request: Request,
    principal: Principal,
    client: ClientRequest,
    received: float,
    session_id: str | None,
) -> Response:
    """One completion, for a chat session (`session_id`) or not; also the panes' of a comparison
    (compare/completions.py)."""
    run = CompletionRun(
        principal=principal,
        client=client,
        upstream=state.catalog.get(client.model),
        received=received,
        wants_metrics=header_flag(request, METRICS_HEADER),
    )
    try:
        return await start(state, run, request, session_id)
    except CompletionError as failed:
        run.end(time.perf_counter(), Failure(failed.message, failed.code or "error", failed.status))
        recording = close_run(state, run)
        if recording is not None and run.session_id is not None:
            # The chat reloads when its request fails: the failed answer must be there by then.
            await asyncio.shield(recording)
        return failed.response({COMPLETION_ID_HEADER: run.id})
    except ClientGone:
        close_run(state, run)
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    except BaseException:
        close_run(state, run)
        raise


async def start(
    state: CompletionRuntime, run: CompletionRun, request: Request, session_id: str | None
) -> Response:
    upstream = run.upstream
    if upstream is None:
        raise CompletionError(
            404, f"The model `{run.model}` does not exist.", code="model_not_found"
        )
    if not state.health.is_available(run.model):
        raise CompletionError(
            503,
            f"The model {run.model} is not available right now (not healthy). Try again shortly.",
            code="model_unavailable",
            headers={"Retry-After": UNAVAILABLE_RETRY_AFTER_SEC},
        )
    if session_id:
        run.session_id = await bind_session(
            state,
            run.principal,
            session_id,
            run.client,
            upstream,
            regenerate=header_flag(request, REGENERATE_HEADER),
            idempotency_key=request.headers.get(IDEMPOTENCY_HEADER),
        )
        if run.client.stream:
            run.stop_subscription = await listen_for_stop(state, run)
    await open_upstream(state, run, request)
    if run.client.stream:
        return RelayResponse(state, run)  # it closes the run when the stream ends
    response = await relay_whole(state, run, request)
    await recorded(state, run)
    return response


@router.post("/v1/chat/completions/{completion_id}/stop", status_code=204, responses=STOP_ANSWERS)
async def stop_completion(completion_id: str, request: Request) -> Response:
    """Stop a running completion of yours (id from the X-Cortex-Completion-Id header)."""
    state = app_state(request)
    try:
        principal = await authenticate(request, state)
        uuid.UUID(completion_id)
    except CompletionError as refused:
        return refused.response()
    except ValueError:
        return _no_such_completion()
    if not await request_stop(state, completion_id, principal.user_id):
        return _no_such_completion()
    return Response(status_code=204)


def _no_such_completion() -> Response:
    return CompletionError(
        404, "No running completion of yours has this id.", code="completion_not_found"
    ).response()
