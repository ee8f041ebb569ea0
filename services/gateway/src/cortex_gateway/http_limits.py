"""Request body caps per route family, enforced before a body is read.

A body whose declared length (Content-Length) is over its route's cap is refused at once with a
JSON 413, without reading any of it. A chunked body is counted as it arrives and refused as soon
as it passes the cap (the route reading it gets the 413). Either way, the rest of the upload is
then discarded by the server as it arrives, never buffered; the connection stays open, so that a
client that sends its whole body before reading gets the 413 rather than a reset connection.
Starlette's own limiter would do the counting, but it answers a declared oversize in plain text.

The completions fast path (completions/entry.py) does not pass here: it caps its body itself
(completions/request.py), with CORTEX_GATEWAY_MAX_COMPLETION_REQUEST_BYTES.
"""

from collections.abc import Sequence

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    def __init__(self, cap: int) -> None:
        super().__init__(
            413,
            detail=f"The request body is over the limit of {cap} bytes.",
        )


class BodyCaps:
    """`caps`: (path prefix, bytes), the first match wins; `default` for every other path."""

    def __init__(self, app: ASGIApp, caps: Sequence[tuple[str, int]], default: int) -> None:
        self.app = app
        self.caps = tuple(caps)
        self.default = default

    def cap_for(self, path: str) -> int:
        return next((cap for prefix, cap in self.caps if path.startswith(prefix)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.cap_for(scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > cap:
                too_large = BodyTooLarge(cap)
                response = JSONResponse({"detail": too_large.detail}, status_code=413)
                await response(scope, receive, send)
                return
            # The server delivers no more than the declared length.
            await self.app(scope, receive, send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    raise BodyTooLarge(cap)
            return message

        await self.app(scope, counted_receive, send)
