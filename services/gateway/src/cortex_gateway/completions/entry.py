"""The gateway's ASGI entry: POST /v1/chat/completions goes straight to its handler, everything
else through FastAPI.

The completions route is the hot path (every request of every API client, then every chunk of its
stream). Through FastAPI, a request is matched against the app's routes in turn and passes its
middleware stack, and every chunk's `send` goes through each middleware's wrapper: ~10 % of a
short completion's gateway CPU in a profile (bench/bench_gateway.py). The handler answers its own
errors (OpenAI-shaped); any other exception gets the app's exception handler as through FastAPI
(its `{"detail"}` answer put in OpenAI's shape, like every answer of this route), or propagates
to the server (a 500, logged). The route stays registered with FastAPI, for the OpenAPI document
and for the other methods.

What FastAPI's middleware does for the other routes, the fast path does itself: its body cap is
in completions/request.py, and the security headers are added to the response head here.
"""

import inspect
import json

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from cortex_gateway.completions.errors import error_body
from cortex_gateway.completions.routes import chat_completions
from cortex_gateway.security_headers import SecurityHeaders, security_headers

COMPLETIONS_PATH = "/v1/chat/completions"


class CompletionsFirst:
    def __init__(self, app: FastAPI) -> None:
        self.app = app
        # Outside the whole app: its own 413s and 500s get the headers too.
        self._others = SecurityHeaders(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http"
            and scope["path"] == COMPLETIONS_PATH
            and scope["method"] == "POST"
        ):
            await self._others(scope, receive, send)
            return
        scope["app"] = self.app  # what Starlette sets: handlers reach app.state through it
        request = Request(scope, receive, send)
        try:
            response = await chat_completions(request)
        except Exception as error:
            response = await self._handled(request, error)
        response.raw_headers += security_headers(scope)  # once, in the head: not per chunk
        await response(scope, receive, send)

    async def _handled(self, request: Request, error: Exception) -> Response:
        for kind in type(error).__mro__:
            handler = self.app.exception_handlers.get(kind)
            if handler is not None:
                answer = handler(request, error)
                return in_openai_shape(await answer if inspect.isawaitable(answer) else answer)
        raise error


def in_openai_shape(answer: Response) -> Response:
    """`{"detail": ...}` (errors.py) as `{"error": {"message": ...}}`, status and headers kept."""
    try:
        detail = json.loads(bytes(answer.body))["detail"]
    except (ValueError, TypeError, KeyError):
        return answer
    headers = {
        k: v for k, v in answer.headers.items() if k not in ("content-length", "content-type")
    }
    return JSONResponse(
        error_body(answer.status_code, str(detail)), answer.status_code, headers=headers
    )
