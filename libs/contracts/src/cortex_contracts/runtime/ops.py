"""/healthz, /readyz and /metrics for the FastStream-based services."""

import json
from collections.abc import Sequence
from typing import Any

from faststream.asgi import AsgiResponse, get
from faststream.nats import NatsBroker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def ops_routes(broker: NatsBroker, engine: Any | None = None) -> Sequence[tuple[str, Any]]:
    """`engine` (an SQLAlchemy AsyncEngine) is checked by /readyz when the service has one."""

    @get
    async def healthz(scope: Any) -> AsgiResponse:
        return AsgiResponse(b'{"status":"ok"}', status_code=200)

    @get
    async def readyz(scope: Any) -> AsgiResponse:
        checks = {"nats": _nats_connected(broker)}
        if engine is not None:
            checks["database"] = await _database_answers(engine)
        ready = all(checks.values())
        body = {"status": "ready" if ready else "not ready", "checks": checks}
        return AsgiResponse(json.dumps(body).encode(), status_code=200 if ready else 503)

    @get
    async def metrics(scope: Any) -> AsgiResponse:
        return AsgiResponse(generate_latest(), 200, headers={"content-type": CONTENT_TYPE_LATEST})

    return [("/healthz", healthz), ("/readyz", readyz), ("/metrics", metrics)]


def _nats_connected(broker: NatsBroker) -> bool:
    try:
        return bool(broker.connection.is_connected)
    except Exception:  # not connected yet
        return False


async def _database_answers(engine: Any) -> bool:
    from sqlalchemy import text

    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
