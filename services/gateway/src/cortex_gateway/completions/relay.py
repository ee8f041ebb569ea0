"""Relaying a completion between the client and the model server.

Streams are forwarded read by read (no buffering), with the original bytes. The stream to the
client always ends cleanly: the upstream's failure becomes an SSE error event, then (if asked)
the `cortex.metrics` event, then `data: [DONE]`. When the client goes away, the upstream request
is closed at once (the engine stops generating) and the answer so far is still recorded.
"""

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import httpx
from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from cortex_gateway.completions.errors import CompletionError, error_event, upstream_error
from cortex_gateway.completions.finish import finish, settle_metrics
from cortex_gateway.completions.request import upstream_body
from cortex_gateway.completions.run import CompletionRun, Failure
from cortex_gateway.completions.sse import DONE, sse_event
from cortex_gateway.models.engine import auth_headers, chat_completions_url
from cortex_gateway.state import AppState

T = TypeVar("T")

COMPLETION_ID_HEADER = "X-Cortex-Completion-Id"
METRICS_EVENT = "cortex.metrics"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def close_run(state: AppState, run: CompletionRun) -> None:
    """End of the request, however it ended: record it off the request (exactly once)."""
    if run.closed:
        return
    run.closed = True
    run.abandon(time.perf_counter())
    state.completions.spawn(finish(state, run))


# --- opening ---------------------------------------------------------------------------------
async def open_upstream(state: AppState, run: CompletionRun, request: Request) -> httpx.Response:
    """Send the request; return the upstream response once its headers are in (status 2xx)."""
    upstream = run.upstream
    assert upstream is not None
    headers = {"Content-Type": "application/json", **auth_headers(upstream)}
    if run.client.stream:
        headers["Accept"] = "text/event-stream"
    outgoing = state.engines.http.build_request(
        "POST",
        chat_completions_url(upstream),
        content=upstream_body(run.client, upstream),
        headers=headers,
    )
    try:
        response = await unless_client_leaves(
            request, state.engines.http.send(outgoing, stream=True), discard=_close_later
        )
    except httpx.TimeoutException:
        raise _unreachable(state, run, "did not answer in time") from None
    except httpx.HTTPError as error:
        raise _unreachable(state, run, f"could not be reached ({type(error).__name__})") from None
    if response is None:
        raise ClientGone
    if response.status_code >= 400:
        body = await response.aread()
        await response.aclose()
        if response.status_code >= 500:
            state.health.record_failure(upstream.served_model_name)
        raise upstream_error(response.status_code, body)
    run.response = response
    run.upstream_accepted = True
    return response


class ClientGone(Exception):
    """The client disconnected before the upstream answered."""


def _unreachable(state: AppState, run: CompletionRun, why: str) -> CompletionError:
    state.health.record_failure(run.model)
    return CompletionError(
        502, f"The model server for {run.model} {why}.", code="upstream_unreachable"
    )


def _close_later(response: httpx.Response) -> None:
    asyncio.get_running_loop().create_task(response.aclose())


async def unless_client_leaves(
    request: Request, work: Awaitable[T], discard: Callable[[T], None] | None = None
) -> T | None:
    """Await `work`, or give up (cancelling it) as soon as the client disconnects: None."""
    job = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_client_disconnect(request))
    try:
        done, _ = await asyncio.wait((job, watch), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        job.cancel()
        watch.cancel()
        raise
    if job in done:
        watch.cancel()
        return job.result()
    job.cancel()
    await asyncio.wait((job,))  # never raises, so our own cancellation is not swallowed
    if not job.cancelled() and job.exception() is None and discard is not None:
        discard(job.result())  # it finished in the instant the client left
    return None


async def _client_disconnect(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


# --- streaming -------------------------------------------------------------------------------
class RelayResponse(StreamingResponse):
    """A StreamingResponse whose end (complete, failed or client gone) closes the run."""

    def __init__(self, state: AppState, run: CompletionRun) -> None:
        super().__init__(
            relay_stream(state, run),
            media_type="text/event-stream",
            headers={**SSE_HEADERS, COMPLETION_ID_HEADER: run.id},
        )
        self._state = state
        self._run = run

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            close_run(self._state, self._run)


async def relay_stream(state: AppState, run: CompletionRun) -> AsyncIterator[bytes]:
    response = run.response
    assert response is not None
    failure = None
    clock = time.perf_counter
    try:
        async for raw in response.aiter_raw():
            forward = run.feed(raw, clock())
            if forward:
                yield forward
            if run.stop_requested:
                break
    except httpx.ReadTimeout:
        failure = Failure(
            f"The model server sent nothing for {state.settings.upstream_read_timeout_sec:g} s.",
            "upstream_timeout",
        )
    except Exception as error:
        # A stop closes the upstream under the reader: whatever it raises then is expected.
        if not (run.stop_requested or isinstance(error, httpx.HTTPError | httpx.StreamError)):
            raise
        failure = Failure(
            f"The model server broke off the stream ({type(error).__name__}).",
            "upstream_disconnected",
        )
    run.end(clock(), failure)
    if run.status == "error":
        if run.upstream_error_event is None and run.failure is not None:
            yield error_event(run.failure.message, code=run.failure.code)
        state.health.record_failure(run.model)
    elif run.status == "complete":
        state.health.record_success(run.model)
    if run.wants_metrics:
        metrics = await settle_metrics(state, run)
        yield sse_event(json.dumps(metrics).encode(), name=METRICS_EVENT)
    yield DONE


# --- whole answers ---------------------------------------------------------------------------
async def relay_whole(state: AppState, run: CompletionRun, request: Request) -> Response:
    response = run.response
    assert response is not None
    try:
        body = await unless_client_leaves(request, response.aread())
    except httpx.HTTPError as error:
        state.health.record_failure(run.model)
        raise CompletionError(
            502,
            f"The model server broke off its answer ({type(error).__name__}).",
            code="upstream_disconnected",
        ) from None
    if body is None:
        raise ClientGone
    now = time.perf_counter()
    with contextlib.suppress(ValueError):  # passed on as it came; measured as far as possible
        run.observe_whole(json.loads(body))
    run.saw_done = True  # the whole answer arrived
    run.end(now)
    state.health.record_success(run.model)
    return Response(
        content=body,
        media_type=response.headers.get("content-type", "application/json"),
        headers={COMPLETION_ID_HEADER: run.id},
    )
