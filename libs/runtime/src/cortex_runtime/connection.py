"""The NATS connection of a process: a server list, reconnecting for ever, logged."""

import logging

import nats
from nats.aio.client import Client as NatsClient

from cortex_runtime import headers

log = logging.getLogger(__name__)

RECONNECT_WAIT_SEC = 1.0


def server_list(url: str) -> list[str]:
    """`NATS_URL` may list several servers, comma-separated (the NATS convention for a cluster)."""
    servers = [part.strip() for part in url.split(",") if part.strip()]
    if not servers:
        raise ValueError("NATS_URL names no server")
    return servers


async def connect(url: str, name: str) -> NatsClient:
    headers.install()  # every message's headers parsed faster (cortex_runtime/headers.py)
    connected: list[NatsClient] = []

    async def disconnected() -> None:
        if not (connected and connected[0].is_closed):  # (it is called on close too)
            log.warning("NATS connection lost; reconnecting")

    async def reconnected() -> None:
        log.info("NATS connection back")

    async def error(problem: Exception) -> None:
        log.debug("NATS: %r", problem)

    client = await nats.connect(
        servers=server_list(url),
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=RECONNECT_WAIT_SEC,
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
        error_cb=error,
    )
    connected.append(client)
    return client
