"""One completion as it happens: what the upstream sent, what reached the client, how it ended.

`feed` is the hot path: it runs for every network read of a stream. It parses each event's JSON
once to take the measurements, and hands back the original bytes to forward (never re-encoded).
"""

import json
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from cortex_contracts.events.models import Upstream
from cortex_contracts.events.usage import CompletionStatus
from cortex_contracts.messages.completions import StopCompletion
from cortex_gateway.auth.principal import Principal
from cortex_gateway.completions.inspection import Inspection
from cortex_gateway.completions.meter import Meter
from cortex_gateway.completions.request import ClientRequest
from cortex_gateway.completions.sse import DONE_PAYLOAD, ContentFrame, EventSplitter, data_of
from cortex_gateway.completions.upstream import Exchange
from cortex_runtime.responder import Responder

UNKNOWN_ENGINE = "unknown"


@dataclass(frozen=True)
class Failure:
    message: str
    code: str
    http_status: int = 200  # of the answer the client got (200 once streaming has begun)


class CompletionRun:
    def __init__(
        self,
        *,
        principal: Principal,
        client: ClientRequest,
        upstream: Upstream | None,
        received: float,
        wants_metrics: bool = False,
    ) -> None:
        self.id = str(uuid.uuid4())
        self.principal = principal
        self.client = client
        self.upstream = upstream
        self.wants_metrics = wants_metrics
        self.meter = Meter(received)
        self.session_id: str | None = None  # set once the user's turn is recorded
        self.exchange: Exchange | None = None
        self.upstream_accepted = False
        # What came back.
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.saw_done = False
        self.upstream_error_event: str | None = None
        # How it ended.
        self.status: CompletionStatus | None = None
        self.failure: Failure | None = None
        self.ended: float | None = None
        self.stop_requested = False
        self.client_gone = False
        self.metrics: dict[str, Any] | None = None
        self.stop_subscription: Responder[StopCompletion] | None = None
        self.closed = False
        self.inspection = Inspection()
        self._splitter = EventSplitter()
        self._frame = ContentFrame()

    @property
    def model(self) -> str:
        return self.client.model

    @property
    def engine_type(self) -> str:
        return self.upstream.engine_type if self.upstream else UNKNOWN_ENGINE

    @property
    def source(self) -> Literal["playground", "api"]:
        return "playground" if self.principal.via == "cookie" else "api"

    @property
    def text(self) -> str:
        return "".join(self.content)

    # --- the stream -------------------------------------------------------------------------
    def feed(self, raw: bytes, now: float) -> bytes:
        """Take one network read; return the bytes to forward now (maybe empty)."""
        if not self._splitter.pending and raw.find(b"\n\n") == len(raw) - 2:
            return raw if self._observe(raw, now) else b""  # the usual read: exactly one event
        events = self._splitter.feed(raw)
        observe = self._observe
        return b"".join([event for event in events if observe(event, now)])

    def _observe(self, event: bytes, now: float) -> bool:
        """Measure one event; False when it must not be forwarded."""
        if self.session_id is not None:  # a playground turn: the inspector keeps its chunks
            self.inspection.chunk(event)
        text = self._frame.text(event)
        if text is not None:  # the common chunk, read without a full JSON parse
            if text:
                self.meter.token(now)
                self.content.append(text)
            return True
        payload = data_of(event)
        if payload is None or not payload:
            return True  # comments, keep-alives
        if payload == DONE_PAYLOAD:
            self.saw_done = True
            return False  # the gateway sends its own [DONE], after its metrics event
        try:
            chunk = json.loads(payload)
        except ValueError:
            return True
        if not isinstance(chunk, dict):
            return True
        choices = chunk.get("choices")
        first = choices[0] if choices and isinstance(choices, list) else None
        if isinstance(first, dict):
            self._observe_choice(first, now)
        self.inspection.observe(chunk, first if isinstance(first, dict) else None)
        usage = chunk.get("usage")
        if usage and isinstance(usage, dict):
            self.usage = usage
            if not choices and not self.client.wants_usage:
                return False  # asked for by the gateway, not by this client
        error = chunk.get("error")
        if error:
            message = error.get("message") if isinstance(error, dict) else str(error)
            self.upstream_error_event = str(message or "The model server reported an error.")
        return True

    def _observe_choice(self, choice: dict[str, Any], now: float) -> None:
        delta = choice.get("delta")
        if delta and isinstance(delta, dict):
            content = delta.get("content")
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if content or reasoning or delta.get("tool_calls"):
                self.meter.token(now)
                if content:
                    self.content.append(content)
                if reasoning:
                    self.reasoning.append(reasoning)
        reason = choice.get("finish_reason")
        if reason:
            self.finish_reason = reason

    def observe_whole(self, answer: Any) -> None:
        """A non-streamed `chat.completion` body."""
        if not isinstance(answer, dict):
            return
        usage = answer.get("usage")
        if isinstance(usage, dict):
            self.usage = usage
        choices = answer.get("choices")
        first = choices[0] if isinstance(choices, list) and choices else None
        self.inspection.observe(answer, first if isinstance(first, dict) else None)
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            message = choices[0].get("message") or {}
            if isinstance(message, dict):
                if isinstance(message.get("content"), str):
                    self.content.append(message["content"])
                reasoning = message.get("reasoning_content") or message.get("reasoning")
                if isinstance(reasoning, str):
                    self.reasoning.append(reasoning)
            self.finish_reason = choices[0].get("finish_reason")

    # --- the end ----------------------------------------------------------------------------
    def end(self, now: float, failure: Failure | None = None) -> None:
        """Settle the status once: stopped by the user, failed, or complete."""
        if self.status is not None:
            return
        self.ended = now
        if self.stop_requested:
            self.status = "stopped"
        elif self.client_gone:
            self.status = "abandoned"
        elif failure is not None:
            self.status, self.failure = "error", failure
        elif self.upstream_error_event is not None:
            self.status = "error"
            self.failure = Failure(self.upstream_error_event, "upstream_error")
        elif self.saw_done or self.finish_reason:
            self.status = "complete"
        else:
            self.status = "error"
            self.failure = Failure(
                "The model server ended the stream before the answer was finished.",
                "upstream_incomplete",
            )

    def abandon(self, now: float) -> None:
        """The client went away before the end (closed tab, reload, network loss)."""
        if self.status is None:
            self.ended = now
            self.status = "stopped" if self.stop_requested else "abandoned"

    @property
    def http_status(self) -> int:
        return self.failure.http_status if self.failure else 200

    @property
    def error(self) -> str | None:
        return self.failure.message if self.failure else None
