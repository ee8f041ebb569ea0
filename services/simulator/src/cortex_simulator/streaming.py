"""Timed token streams, client-disconnect detection and the simulated connection cut."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from cortex_simulator.answers import Answer
from cortex_simulator.errors import ConnectionDropped
from cortex_simulator.formats import DONE, ChunkFormat, timings_dict, usage_dict
from cortex_simulator.models import Counters, ModelState

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
HANG_POLL_S = 0.1

Outcome = Literal["completed", "cancelled", "dropped"]


class StreamTracker:
    """Counts one stream: active while open, then exactly one of completed/cancelled/dropped.

    Holds the Counters object of the moment the stream started, so that a control reset
    during the stream does not skew the fresh counters.
    """

    __slots__ = ("_done", "counters", "outcome")

    def __init__(self, counters: Counters) -> None:
        self.counters = counters
        self._done = False
        self.outcome: Outcome | None = None
        counters.active_streams += 1

    def finish(self, outcome: Outcome) -> None:
        if self._done:
            return
        self._done = True
        self.outcome = outcome
        c = self.counters
        c.active_streams -= 1
        if outcome == "completed":
            c.completed_streams += 1
        elif outcome == "dropped":
            c.dropped_streams += 1
        else:
            c.cancelled_streams += 1


class SimStreamingResponse(StreamingResponse):
    """StreamingResponse that always closes its generator and settles its tracker.

    Starlette cancels the streaming task when the client disconnects (ASGI spec < 2.4) or
    raises on send (>= 2.4); either way the generator stops at once and the stream is counted
    as cancelled unless it had already finished.
    """

    def __init__(self, content: AsyncIterator[bytes], tracker: StreamTracker) -> None:
        super().__init__(content, media_type="text/event-stream", headers=SSE_HEADERS)
        self._gen = content
        self._tracker = tracker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            aclose: Callable[[], Awaitable[Any]] | None = getattr(self._gen, "aclose", None)
            if aclose is not None:
                await aclose()
            self._tracker.finish("cancelled")


@dataclass(slots=True)
class StreamPlan:
    """Everything one streamed answer needs, computed before the first byte."""

    state: ModelState
    fmt: ChunkFormat
    answer: Answer
    prompt_tokens: int
    include_usage: bool
    ttft_s: float
    itl_s: float
    tokens_per_chunk: int


async def _sleep_until(loop: asyncio.AbstractEventLoop, deadline: float) -> None:
    delay = deadline - loop.time()
    await asyncio.sleep(delay if delay > 0 else 0)


async def _stall_while_hung(state: ModelState) -> None:
    # The flag is flipped by the control API; polling keeps the state a plain dataclass.
    while state.faults.hang:  # noqa: ASYNC110
        await asyncio.sleep(HANG_POLL_S)


async def chat_stream(plan: StreamPlan, tracker: StreamTracker) -> AsyncIterator[bytes]:
    """SSE body: role chunk, reasoning/content chunks, finish chunk, [usage chunk], [DONE]."""
    state, fmt, answer = plan.state, plan.fmt, plan.answer
    faults = state.faults
    counters = tracker.counters
    loop = asyncio.get_running_loop()
    try:
        start = loop.time()
        deadline = start + plan.ttft_s
        await _sleep_until(loop, deadline)
        first_token_at = loop.time()
        yield fmt.role()
        k = plan.tokens_per_chunk
        itl = plan.itl_s
        sent_content = 0
        first = True
        for key, pieces in (("reasoning_content", answer.reasoning), ("content", answer.content)):
            for i in range(0, len(pieces), k):
                group = pieces[i : i + k]
                if not first:
                    deadline += itl * len(group)
                    await _sleep_until(loop, deadline)
                first = False
                if faults.hang:
                    await _stall_while_hung(state)
                if key == "content":
                    drop = faults.drop_after_tokens
                    if drop is not None and sent_content + len(group) > drop:
                        keep = max(drop - sent_content, 0)
                        if keep:
                            counters.streamed_tokens += keep
                            yield fmt.delta(key, "".join(group[:keep]))
                        tracker.finish("dropped")
                        raise ConnectionDropped(
                            f"{state.name}: stream cut after {sent_content + keep} content tokens"
                        )
                    sent_content += len(group)
                counters.streamed_tokens += len(group)
                yield fmt.delta(key, "".join(group))
        end = loop.time()
        extra: dict[str, Any] | None = None
        if state.config.personality == "llamacpp":
            extra = {
                "timings": timings_dict(
                    plan.prompt_tokens,
                    (first_token_at - start) * 1000.0,
                    answer.completion_tokens,
                    (end - first_token_at) * 1000.0 + plan.itl_s * 1000.0,
                )
            }
        usage = usage_dict(plan.prompt_tokens, answer.completion_tokens)
        if plan.include_usage:
            yield fmt.finish(answer.finish_reason)
            yield fmt.usage(usage, extra)
        else:
            yield fmt.finish(answer.finish_reason, extra)
        yield DONE
        tracker.finish("completed")
    finally:
        tracker.finish("cancelled")


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def sleep_unless_disconnected(request: Request, seconds: float) -> bool:
    """Sleep ``seconds``; False as soon as the client disconnects."""
    if seconds <= 0:
        return True
    watcher = asyncio.ensure_future(_wait_disconnect(request.receive))
    try:
        done, _ = await asyncio.wait({watcher}, timeout=seconds)
        return not done
    finally:
        watcher.cancel()


async def wait_while_hung(request: Request, state: ModelState) -> bool:
    """Block while the model is hung; False if the client gave up meanwhile."""
    if not state.faults.hang:
        return True
    watcher = asyncio.ensure_future(_wait_disconnect(request.receive))
    try:
        while state.faults.hang:
            done, _ = await asyncio.wait({watcher}, timeout=HANG_POLL_S)
            if done:
                return False
        return True
    finally:
        watcher.cancel()


class TruncatedResponse(Response):
    """Non-streaming answer cut half way: full Content-Length announced, part sent, then cut."""

    def __init__(self, body: bytes, media_type: str = "application/json") -> None:
        super().__init__(content=body, media_type=media_type)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        part = self.body[: len(self.body) // 2]
        await send({"type": "http.response.body", "body": part, "more_body": True})
        raise ConnectionDropped("non-streaming answer cut half way")
