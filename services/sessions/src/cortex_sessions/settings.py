from pydantic import Field
from pydantic_settings import SettingsConfigDict

from cortex_contracts.settings import DatabaseSettings, NatsSettings


class Settings(NatsSettings, DatabaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    host: str = Field(default="0.0.0.0", alias="SESSIONS_HOST")
    port: int = Field(default=8085, alias="SESSIONS_PORT", ge=1, le=65535)
    fetch_batch: int = Field(default=200, alias="SESSIONS_FETCH_BATCH", ge=1, le=1000)
    ack_wait_sec: float = Field(
        default=10.0,
        alias="SESSIONS_ACK_WAIT_SEC",
        ge=1,
        description="an event not acknowledged in time (its replica died) goes to another one",
    )
    read_your_writes_timeout_sec: float = Field(
        default=2.0, alias="CORTEX_READ_YOUR_WRITES_TIMEOUT_SEC", gt=0
    )
    query_workers: int = Field(
        default=16, alias="SESSIONS_QUERY_WORKERS", ge=1, le=256, description="queries at once"
    )
    max_deliveries: int = Field(
        default=5,
        alias="SESSIONS_MAX_DELIVERIES",
        ge=2,
        description="an event that still fails after this many tries is dead-lettered",
    )
    max_event_bytes: int = Field(
        default=7 * 1024 * 1024,
        alias="SESSIONS_MAX_EVENT_BYTES",
        ge=1024,
        description="a larger chat event is parked as oversized (the gateway's largest message, "
        "CORTEX_MAX_MESSAGE_BYTES, fits with room to spare)",
    )
    rebuild_batch: int = Field(
        default=5000, alias="SESSIONS_REBUILD_BATCH", ge=100, description="rows per COPY"
    )
