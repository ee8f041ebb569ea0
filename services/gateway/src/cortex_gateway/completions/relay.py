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
from collections.abc import Awaitable
from typing import TypeVar

import aiohttp
from fastapi import Request
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from cortex_gateway.completions.errors import CompletionError, error_event, upstream_error
from cortex_gateway.completions.finish import finish, settle_metrics
from cortex_gateway.completions.request import upstream_body
from cortex_gateway.completions.run import CompletionRun, Failure
from cortex_gateway.completions.silence import SilenceWatch
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


class ClientGone(Exception):
    """The client disconnected before the upstream answered."""


# --- opening ---------------------------------------------------------------------------------
async def open_upstream(
    state: AppState, run: CompletionRun, request: Request
) -> aiohttp.ClientResponse:
    """Send the request; return the upstream response once its headers are in (status 2xx)."""
    upstream = run.upstream
    assert upstream is not None
    headers = {"Content-Type": "application/json", **auth_headers(upstream)}
    if run.client.stream:
        headers["Accept"] = "text/event-stream"
    sending = state.engines.http.post(
        chat_completions_url(upstream), data=upstream_body(run.client, upstream), headers=headers
    )
    try:
        response = await unless_client_leaves(request, sending)
    except TimeoutError:
        raise _unreachable(state, run, "did not answer in time") from None
    except aiohttp.ClientError as error:
        raise _unreachable(state, run, f"could not be reached ({type(error).__name__})") from None
    if response is None:
        raise ClientGone
    if response.status >= 400:
        try:
            body = await response.read()
        except (aiohttp.ClientError, TimeoutError):
            body = b""
        response.close()
        if response.status >= 500:
            state.health.record_failure(upstream.served_model_name)
        raise upstream_error(response.status, body)
    run.response = response
    run.upstream_accepted = True
    return response


def _unreachable(state: AppState, run: CompletionRun, why: str) -> CompletionError:
    state.health.record_failure(run.model)
    return CompletionError(
        502, f"The model server for {run.model} {why}.", code="upstream_unreachable"
    )


async def unless_client_leaves(request: Request, work: Awaitable[T]) -> T | None:
    """Await `work`, or give up (cancelling it) as soon as the client disconnects: None.

    `work` runs in the calling task, not in one of its own: a busy event loop then takes one pass
    less before the request leaves for the model server. A watcher task cancels this task when
    the client leaves; the work's own clean-up runs (aiohttp closes a half-received response).
    """
    task = asyncio.current_task()
    assert task is not None
    waiting = True
    left = False

    def client_left(watch: asyncio.Task[None]) -> None:
        nonlocal left
        if watch.cancelled():
            return
        watch.exception()  # seen: a receive channel that fails counts as the client gone
        if waiting:
            left = True
            task.cancel()

    watch = asyncio.get_running_loop().create_task(_client_disconnect(request.receive))
    watch.add_done_callback(client_left)
    try:
        return await work
    except asyncio.CancelledError:
        if left and task.uncancel() == 0:
            return None  # cancelled by the watcher only, not by anyone else as well
        raise
    finally:
        waiting = False  # from here on a late watcher must not cancel this task
        watch.cancel()


async def _client_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


# --- streaming -------------------------------------------------------------------------------
class RelayResponse(Response):
    """Sends the relayed stream with one ASGI `send` per upstream read, nothing in between (the
    loop is written out here rather than through an async generator: it runs for every chunk).

    A watcher notices the client leaving and closes the upstream response: the relay loop then
    ends on its own (the engine is told at once), and the run is recorded as abandoned.
    """

    media_type = "text/event-stream"

    def __init__(self, state: AppState, run: CompletionRun) -> None:
        self.status_code = 200
        self.background = None
        self.init_headers({**SSE_HEADERS, COMPLETION_ID_HEADER: run.id})
        self._state = state
        self._run = run

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        run = self._run
        watcher = asyncio.get_running_loop().create_task(self._watch(receive))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            failure = await self._relay(send)
            for tail in await stream_end(self._state, run, failure):
                await send({"type": "http.response.body", "body": tail, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()
            close_run(self._state, run)

    async def _relay(self, send: Send) -> Failure | None:
        run = self._run
        response = run.response
        assert response is not None
        limit = self._state.settings.upstream_read_timeout_sec
        feed, clock = run.feed, time.perf_counter
        readany = response.content.readany  # not iter_any(): one wrapper less per read
        _drop_per_read_timer(response)
        silence = SilenceWatch(response.content, limit)
        try:
            while raw := await readany():
                forward = feed(raw, clock())
                if forward:
                    await send({"type": "http.response.body", "body": forward, "more_body": True})
                if run.stop_requested:
                    break
        except TimeoutError:
            return Failure(f"The model server sent nothing for {limit:g} s.", "upstream_timeout")
        except Exception as error:
            # A stop or a departed client closes the upstream under the reader: expected then.
            if not (
                run.stop_requested or run.client_gone or isinstance(error, aiohttp.ClientError)
            ):
                raise
            return Failure(
                f"The model server broke off the stream ({type(error).__name__}).",
                "upstream_disconnected",
            )
        finally:
            silence.stop()
        return None

    async def _watch(self, receive: Receive) -> None:
        await _client_disconnect(receive)
        self._run.client_gone = True
        if self._run.response is not None:
            self._run.response.close()


def _drop_per_read_timer(response: aiohttp.ClientResponse) -> None:
    """From the headers on, the stream's read timeout is the SilenceWatch's (silence.py)."""
    connection = response.connection
    if connection is not None and connection.protocol is not None:
        connection.protocol.read_timeout = None


async def stream_end(state: AppState, run: CompletionRun, failure: Failure | None) -> list[bytes]:
    """Settle how the stream ended; the events that close it: [error], [metrics], [DONE]."""
    run.end(time.perf_counter(), failure)
    tail = []
    if run.status == "error":
        if run.upstream_error_event is None and run.failure is not None:
            tail.append(error_event(run.failure.message, code=run.failure.code))
        state.health.record_failure(run.model)
    elif run.status == "complete":
        state.health.record_success(run.model)
    if run.wants_metrics:
        metrics = await settle_metrics(state, run)
        tail.append(sse_event(json.dumps(metrics).encode(), name=METRICS_EVENT))
    tail.append(DONE)
    return tail


# --- whole answers ---------------------------------------------------------------------------
async def relay_whole(state: AppState, run: CompletionRun, request: Request) -> Response:
    response = run.response
    assert response is not None
    try:
        body = await unless_client_leaves(request, response.read())
    except (aiohttp.ClientError, TimeoutError) as error:
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
        media_type=response.headers.get("Content-Type", "application/json"),
        headers={COMPLETION_ID_HEADER: run.id},
    )
