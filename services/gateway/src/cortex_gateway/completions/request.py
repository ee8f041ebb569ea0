"""The client's completion request: read once, checked lightly, passed on nearly untouched.

Only what the gateway needs is looked at (model, stream, stream_options, messages); every other
field goes to the model server as sent. Two changes on the way: the model's `request_defaults`
fill keys the client did not send, and a streamed request always asks for the usage chunk.
"""

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from cortex_contracts.events.models import Upstream
from cortex_gateway.completions.errors import CompletionError
from cortex_gateway.json_body import BadJson, parse_json
from cortex_gateway.models.engine import content_text

MAX_MODEL_NAME = 200
# Defaults never override what decides routing and framing.
NOT_DEFAULTABLE = frozenset({"model", "messages", "stream", "stream_options"})


@dataclass(frozen=True)
class ClientRequest:
    body: dict[str, Any]
    model: str
    stream: bool
    wants_usage: bool
    messages: list[dict[str, Any]]

    def last_user_text(self) -> str | None:
        """The turn to record in a chat session: the last message, if the user wrote it."""
        last = self.messages[-1]
        return content_text(last.get("content")) if last.get("role") == "user" else None

    def tool_result(self) -> tuple[str, str] | None:
        """A tool call answered by the user (the last message, role `tool`): (call id, text)."""
        last = self.messages[-1]
        if last.get("role") != "tool":
            return None
        return str(last.get("tool_call_id") or ""), content_text(last.get("content"))


async def read_client_request(request: Request, limit: int) -> ClientRequest:
    try:
        body = parse_json(await read_body(request, limit))
    except BadJson as bad:
        raise CompletionError(400, str(bad)) from None
    return parse_body(body)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it is known to be over `limit`: by its declared length
    before any of it is read, or while a chunked body arrives (the server then discards the rest
    as it comes, see http_limits.py)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise _too_large(limit)
        parts.append(part)
    return b"".join(parts)


def parse_body(body: Any) -> ClientRequest:
    if not isinstance(body, dict):
        raise CompletionError(400, "The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise CompletionError(400, "`model` is required: a model's name.", code="missing_model")
    if len(model) > MAX_MODEL_NAME:
        raise CompletionError(400, f"`model` is longer than {MAX_MODEL_NAME} characters.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise CompletionError(400, "`messages` must be a non-empty list.", code="missing_messages")
    if not all(isinstance(m, dict) for m in messages):
        raise CompletionError(400, "Every item of `messages` must be an object.")
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise CompletionError(400, "`stream` must be true or false.")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise CompletionError(400, "`stream_options` must be an object.")
    return ClientRequest(
        body=body,
        model=model,
        stream=bool(stream),
        wants_usage=bool(options and options.get("include_usage")),
        messages=messages,
    )


def upstream_body(client: ClientRequest, upstream: Upstream) -> bytes:
    body = dict(client.body)
    for key, value in (upstream.request_defaults or {}).items():
        if key not in body and key not in NOT_DEFAULTABLE:
            body[key] = value
    if client.stream:
        body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _too_large(limit: int) -> CompletionError:
    return CompletionError(413, f"The request body is over the limit of {limit} bytes.")
