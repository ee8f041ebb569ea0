"""The ops HTTP routes of a service (/healthz, /readyz, /metrics) as a small ASGI app, with the
service's start and stop run in its lifespan (uvicorn serves it)."""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cortex_runtime import readiness

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[bool]]
CHECK_TIMEOUT_SEC = 2.0  # a frozen dependency is "not ready" at once, not a hung probe
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class OpsApp:
    def __init__(
        self,
        startup: Callable[[], Awaitable[None]],
        shutdown: Callable[[], Awaitable[None]],
        checks: Callable[[], dict[str, Check]],
    ) -> None:
        self.startup = startup
        self.shutdown = shutdown
        self.checks = checks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            status, body, content_type = await self._route(scope["path"])
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", content_type.encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})

    async def _route(self, path: str) -> tuple[int, bytes, str]:
        if path == "/healthz":
            return 200, b'{"status":"ok"}', "application/json"
        if path == "/readyz":
            checks = self.checks()
            found = await asyncio.gather(*(_safely(check) for check in checks.values()))
            results = dict(zip(checks, found, strict=True))
            ready = all(results.values())
            body = {"status": "ready" if ready else "not ready", "checks": results}
            return (200 if ready else 503), json.dumps(body).encode(), "application/json"
        if path == "/metrics":
            return 200, generate_latest(), CONTENT_TYPE_LATEST
        return 404, b'{"detail":"Not Found"}', "application/json"

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as error:
                    log.exception("starting failed")
                    await send({"type": "lifespan.startup.failed", "message": repr(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.shutdown()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return


async def _safely(check: Check) -> bool:
    try:
        return await asyncio.wait_for(check(), CHECK_TIMEOUT_SEC)
    except Exception:
        return False


def database_check(engine: Any) -> Check:
    """/readyz asks PostgreSQL (an SQLAlchemy AsyncEngine) for `SELECT 1`, within a second."""
    return readiness.database_check(engine).passes
