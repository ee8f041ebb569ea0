from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field

from cortex_contracts.services import service
from cortex_contracts.settings import DatabaseSettings, NatsSettings, ReadYourWritesSettings


class Settings(NatsSettings, DatabaseSettings, ReadYourWritesSettings):
    host: str = Field(default="0.0.0.0", alias="CORTEX_SESSIONS_HOST")
    port: int = Field(
        default=service("sessions").port, alias="CORTEX_SESSIONS_PORT", ge=1, le=65535
    )
    fetch_batch: int = Field(default=200, alias="CORTEX_SESSIONS_FETCH_BATCH", ge=1, le=1000)
    ack_wait_sec: float = Field(
        default=10.0,
        alias="CORTEX_SESSIONS_ACK_WAIT_SEC",
        ge=1,
        description="an event not acknowledged in time (its replica died) goes to another one",
    )
    query_workers: int = Field(
        default=16,
        alias="CORTEX_SESSIONS_QUERY_WORKERS",
        ge=1,
        le=256,
        description="queries at once",
    )
    max_deliveries: int = Field(
        default=5,
        alias="CORTEX_SESSIONS_MAX_DELIVERIES",
        ge=2,
        description="an event that still fails after this many tries is dead-lettered",
    )
    max_event_bytes: int = Field(
        default=7 * 1024 * 1024,
        alias="CORTEX_SESSIONS_MAX_EVENT_BYTES",
        ge=1024,
        description="a larger chat event is parked as oversized (the gateway's largest message, "
        "CORTEX_GATEWAY_MAX_MESSAGE_BYTES, fits with room to spare)",
    )
    rebuild_batch: int = Field(
        default=5000, alias="CORTEX_SESSIONS_REBUILD_BATCH", ge=100, description="rows per COPY"
    )

    renamed: ClassVar[Mapping[str, str]] = {
        f"SESSIONS_{name}": f"CORTEX_SESSIONS_{name}"
        for name in (
            "HOST",
            "PORT",
            "FETCH_BATCH",
            "ACK_WAIT_SEC",
            "QUERY_WORKERS",
            "MAX_DELIVERIES",
            "REBUILD_BATCH",
        )
    }
