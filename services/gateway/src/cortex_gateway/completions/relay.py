"""Relaying a completion between the client and the model server.

Streams are forwarded read by read (no buffering), with the original bytes, from the callback
that reads them (upstream.py, client_wire.py). The stream to the client always ends cleanly: the
upstream's failure becomes an SSE error event, then (if asked) the `cortex.metrics` event, then
`data: [DONE]`. When the client goes away, the upstream exchange is closed at once (the engine
stops generating) and the answer so far is still recorded.
"""

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import Request
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from cortex_gateway.completions.client_wire import ClientWire, client_wire
from cortex_gateway.completions.errors import CompletionError, error_event, upstream_error
from cortex_gateway.completions.finish import finish, settle_metrics
from cortex_gateway.completions.request import upstream_body
from cortex_gateway.completions.run import CompletionRun, Failure
from cortex_gateway.completions.runtime import CompletionRuntime
from cortex_gateway.completions.sse import DONE, sse_event
from cortex_gateway.completions.upstream import Collected, Exchange, UpstreamError
from cortex_gateway.models.engine import auth_headers, chat_completions_url

T = TypeVar("T")

COMPLETION_ID_HEADER = "X-Cortex-Completion-Id"
METRICS_EVENT = "cortex.metrics"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def close_run(state: CompletionRuntime, run: CompletionRun) -> asyncio.Task[None] | None:
    """End of the request, however it ended: record it off the request (exactly once)."""
    if run.closed:
        return None
    run.closed = True
    run.abandon(time.perf_counter())
    return state.spawn(finish(state, run))


async def recorded(state: CompletionRuntime, run: CompletionRun) -> None:
    """Close the run and wait until its answer and usage record are stored: a client told that the
    completion ended (`[DONE]`, a whole answer) must find them, even if this gateway dies the next
    moment (the recording itself goes on if the request is cancelled meanwhile)."""
    recording = close_run(state, run)
    if recording is not None:
        await asyncio.shield(recording)


class ClientGone(Exception):
    """The client disconnected before the upstream answered."""


# --- opening ---------------------------------------------------------------------------------
async def open_upstream(state: CompletionRuntime, run: CompletionRun, request: Request) -> Exchange:
    """Send the request; return the upstream exchange once its head is in (status 2xx)."""
    upstream = run.upstream
    assert upstream is not None
    headers = {"Content-Type": "application/json", **auth_headers(upstream)}
    if run.client.stream:
        headers["Accept"] = "text/event-stream"
    url, body = chat_completions_url(upstream), upstream_body(run.client, upstream)
    if run.session_id is not None:  # a playground turn: the inspector shows what was sent
        run.inspection.sent(url, headers, body)
    sending = state.upstreams.request(url, headers, body)
    try:
        exchange = await unless_client_leaves(request, sending)
    except TimeoutError:
        raise _unreachable(state, run, "did not answer in time") from None
    except (OSError, UpstreamError) as error:
        raise _unreachable(state, run, f"could not be reached ({_reason(error)})") from None
    if exchange is None:
        raise ClientGone
    status = exchange.head.result().status
    if status >= 400:
        body = b""
        collected = Collected()
        exchange.attach(collected)
        with contextlib.suppress(OSError, UpstreamError, TimeoutError):
            body = await collected.done
        exchange.close()
        if status >= 500:
            state.health.record_failure(upstream.served_model_name)
        raise upstream_error(status, body)
    run.exchange = exchange
    run.upstream_accepted = True
    return exchange


def _reason(error: BaseException) -> str:
    return str(error) if isinstance(error, UpstreamError) else type(error).__name__


def _unreachable(state: CompletionRuntime, run: CompletionRun, why: str) -> CompletionError:
    state.health.record_failure(run.model)
    return CompletionError(
        502, f"The model server for {run.model} {why}.", code="upstream_unreachable"
    )


async def unless_client_leaves(request: Request, work: Awaitable[T]) -> T | None:
    """Await `work`, or give up (cancelling it) as soon as the client disconnects: None.

    `work` runs in the calling task, not in one of its own: a busy event loop then takes one pass
    less before the request leaves for the model server. A watcher task cancels this task when
    the client leaves; the work's own clean-up runs (a half-received exchange is closed).
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


# --- streaming ---------------------------------------------------------------------------------
class RelayResponse(Response):
    """Sends the relayed stream: the head, every upstream read as it comes (StreamRelay), then
    the closing events. A watcher notices the client leaving and closes the upstream exchange:
    the engine is told at once, and the run is recorded as abandoned.
    """

    media_type = "text/event-stream"

    def __init__(self, state: CompletionRuntime, run: CompletionRun) -> None:
        self.status_code = 200
        self.background = None
        self.init_headers({**SSE_HEADERS, COMPLETION_ID_HEADER: run.id})
        self._state = state
        self._run = run

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        run = self._run
        exchange = run.exchange
        assert exchange is not None
        watcher = asyncio.get_running_loop().create_task(self._watch(receive))
        wire: ClientWire | None = None
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            wire = client_wire(send, exchange)
            relay = StreamRelay(run, exchange, wire)
            failure = await relay.finished(self._state.settings.upstream_read_timeout_sec)
            await wire.flush()
            tails = await stream_end(self._state, run, failure)
            await recorded(self._state, run)  # before the client hears the end ([DONE])
            # One write for the closing events and the end of the body (not one each).
            await send({"type": "http.response.body", "body": b"".join(tails), "more_body": False})
        finally:
            watcher.cancel()
            if wire is not None:
                wire.close()
            close_run(self._state, run)

    async def _watch(self, receive: Receive) -> None:
        await _client_disconnect(receive)
        self._run.client_gone = True
        if self._run.exchange is not None:
            self._run.exchange.close()


class StreamRelay:
    """The upstream body's sink: measures each read and writes what the client gets, in the
    upstream socket's read callback (the hot path: it runs for every chunk of every stream)."""

    def __init__(self, run: CompletionRun, exchange: Exchange, wire: ClientWire) -> None:
        self._feed = run.feed
        self._write = wire.write
        self._run = run
        self._ended: asyncio.Future[BaseException | None] = (
            asyncio.get_running_loop().create_future()
        )
        exchange.attach(self)

    def body(self, data: bytes) -> None:
        forward = self._feed(data, time.perf_counter())
        if forward:
            self._write(forward)

    def end(self, error: BaseException | None) -> None:
        if not self._ended.done():
            self._ended.set_result(error)

    async def finished(self, read_timeout_sec: float) -> Failure | None:
        error = await self._ended
        run = self._run
        if error is None:
            return None
        if isinstance(error, TimeoutError):
            return Failure(
                f"The model server sent nothing for {read_timeout_sec:g} s.", "upstream_timeout"
            )
        # A stop or a departed client closes the upstream under the relay: expected then.
        if not (run.stop_requested or run.client_gone or isinstance(error, UpstreamError)):
            raise error
        return Failure(
            f"The model server broke off the stream ({_reason(error)}).", "upstream_disconnected"
        )


async def stream_end(
    state: CompletionRuntime, run: CompletionRun, failure: Failure | None
) -> list[bytes]:
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
async def relay_whole(state: CompletionRuntime, run: CompletionRun, request: Request) -> Response:
    exchange = run.exchange
    assert exchange is not None
    collected = Collected()
    exchange.attach(collected)
    try:
        body = await unless_client_leaves(request, collected.done)
    except (OSError, UpstreamError, TimeoutError) as error:
        state.health.record_failure(run.model)
        raise CompletionError(
            502,
            f"The model server broke off its answer ({_reason(error)}).",
            code="upstream_disconnected",
        ) from None
    if body is None:
        exchange.close()
        raise ClientGone
    now = time.perf_counter()
    with contextlib.suppress(ValueError):  # passed on as it came; measured as far as possible
        run.observe_whole(json.loads(body))
    run.saw_done = True  # the whole answer arrived
    run.end(now)
    state.health.record_success(run.model)
    head = exchange.head.result()
    return Response(
        content=body,
        media_type=head.headers.get("content-type", "application/json"),
        headers={COMPLETION_ID_HEADER: run.id},
    )
