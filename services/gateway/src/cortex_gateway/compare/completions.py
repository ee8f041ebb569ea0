"""POST /v1/comparisons/{id}/panes/{pane}/completions: a pane's answer, streamed.

The same completion path as the chat's (completions/routes.py `serve`, OpenAI-shaped answers),
with the pane's chat session and model filled in by the server: the page never names the model,
so a blind comparison can hide it. While it is hidden, every occurrence of the model's name in
the answer (the chunks' `model`, the metrics event, error messages) reads as the pane's label.
"""

import json
import time
import uuid
from dataclasses import replace

from fastapi import APIRouter, Request, Response
from pydantic import Field
from starlette.types import Message, Receive, Scope, Send

from cortex_contracts.events.compare import pane_label
from cortex_gateway.compare.aggregate import load_comparison
from cortex_gateway.completions.contract import COMPLETION_ANSWERS, ChatCompletionRequest
from cortex_gateway.completions.errors import CompletionError
from cortex_gateway.completions.request import (
    MAX_MODEL_NAME,
    ClientRequest,
    parse_body,
    read_body,
)
from cortex_gateway.completions.routes import app_state, authenticate, serve
from cortex_gateway.json_body import BadJson, parse_json

router = APIRouter(prefix="/v1/comparisons", tags=["comparisons"])


class PaneCompletionRequest(ChatCompletionRequest):
    """A chat completion request; `model` may be left out (the pane's model answers, whatever a
    `model` sent says)."""

    model: str | None = Field(default=None, max_length=MAX_MODEL_NAME)  # type: ignore[assignment]


REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PaneCompletionRequest.model_json_schema()}},
    }
}


def _not_found() -> CompletionError:
    return CompletionError(404, "Comparison not found.", code="comparison_not_found")


@router.post(
    "/{comparison_id}/panes/{pane}/completions",
    response_model=None,
    responses=COMPLETION_ANSWERS,
    openapi_extra=REQUEST_BODY,
)
async def pane_completion(comparison_id: str, pane: str, request: Request) -> Response:
    """One pane's answer to the turn's messages (stream with `stream: true`), recorded in the
    pane's chat session as a chat's are."""
    received = time.perf_counter()
    state = app_state(request)
    try:
        principal = await authenticate(request, state)
        body = await _read_request(request, state.settings.max_completion_request_bytes)
        try:  # malformed ids are simply not found (OpenAI-shaped, never FastAPI's 422)
            comparison_id, index = str(uuid.UUID(comparison_id)), int(pane)
        except ValueError:
            raise _not_found() from None
        comparison = await load_comparison(
            state.js, state.topology, principal.user_id, comparison_id
        )
        if comparison is None or comparison.deleted or not 0 <= index < len(comparison.models):
            raise _not_found()
    except CompletionError as refused:
        return refused.response()
    chosen = comparison.created.panes[index]
    client = replace(body, body={**body.body, "model": chosen.model_name}, model=chosen.model_name)
    response = await serve(state, request, principal, client, received, chosen.session_id)
    if comparison.hidden:
        return Masked(response, chosen.model_name, pane_label(index))
    return response


async def _read_request(request: Request, limit: int) -> ClientRequest:
    try:
        body = parse_json(await read_body(request, limit))
    except BadJson as bad:
        raise CompletionError(400, str(bad)) from None
    if isinstance(body, dict):
        body = {**body, "model": body.get("model") or "pane"}  # replaced by the pane's
    return parse_body(body)


class Masked(Response):
    """Sends `inner` with the model's name replaced by the pane's label in every body chunk
    (as written and as JSON escapes it)."""

    def __init__(self, inner: Response, name: str, label: str) -> None:
        self.inner = inner
        self.status_code = inner.status_code
        self.background = None
        self.replacements = [(name.encode(), label.encode())]
        escaped = json.dumps(name, ensure_ascii=True)[1:-1].encode()
        if escaped != name.encode():
            self.replacements.append((escaped, label.encode()))

    def _mask(self, body: bytes) -> bytes:
        for secret, label in self.replacements:
            body = body.replace(secret, label)
        return body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def masked(message: Message) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                message = {**message, "body": self._mask(message["body"])}
            elif message["type"] == "http.response.start":
                # the body's length changes: let the server frame it (chunked)
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"content-length"]
                message = {**message, "headers": headers}
            await send(message)

        await self.inner(scope, receive, masked)
