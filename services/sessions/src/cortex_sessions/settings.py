from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field, field_validator

from cortex_contracts.services import service
from cortex_contracts.settings import (
    DatabaseSettings,
    NatsSettings,
    ReadYourWritesSettings,
    ServiceSettings,
    old_service_names,
    service_config,
)


class Settings(ServiceSettings, NatsSettings, DatabaseSettings, ReadYourWritesSettings):
    model_config = service_config("sessions")

    port: int = Field(default=service("sessions").port, ge=1, le=65535)
    #: events per pull request and at most per transaction (fewer, larger transactions: the
    #: live projection did 13,800 events/s at 200, 17,200 at 1000; docs/scaling.md)
    fetch_batch: int = Field(default=1000, ge=1, le=5000)
    #: an event not acknowledged in time (its replica died) goes to another one
    ack_wait_sec: float = Field(default=10.0, ge=1)
    #: queries answered at once
    query_workers: int = Field(default=16, ge=1, le=256)
    #: an event that still fails after this many tries is dead-lettered
    max_deliveries: int = Field(default=5, ge=2)
    #: a larger chat event is parked as oversized (the gateway's largest message,
    #: CORTEX_GATEWAY_MAX_MESSAGE_BYTES, fits with room to spare)
    max_event_bytes: int = Field(default=7 * 1024 * 1024, ge=1024)
    #: rows per COPY of a rebuild
    rebuild_batch: int = Field(default=5000, ge=100)
    #: processes a verify replays the partitions in (0: one per CPU; docs/audit.md)
    verify_workers: int = Field(default=0, ge=0, le=64)
    #: verify the tables against a replay this often (0: never; docs/audit.md)
    verify_interval_sec: float = Field(default=0.0, ge=0)
    #: a PostgreSQL read replica for lists and gets (none: the primary answers them)
    database_read_url: str | None = None
    #: how long a list needing the caller's last write waits for the replica to replay it
    #: before the primary answers (a healthy streaming replica is milliseconds behind)
    replica_lag_wait_sec: float = Field(default=0.5, ge=0, le=30)

    @field_validator("database_read_url")
    @classmethod
    def _read_url_driver(cls, url: str | None) -> str | None:
        if not url:
            return None
        try:
            return DatabaseSettings._use_psycopg_driver(url)
        except ValueError:
            message = "CORTEX_SESSIONS_DATABASE_READ_URL must be a postgresql:// URL"
            raise ValueError(message) from None

    renamed: ClassVar[Mapping[str, str]] = old_service_names(
        "sessions", "HOST", "PORT", "FETCH_BATCH", "ACK_WAIT_SEC", "QUERY_WORKERS",
        "MAX_DELIVERIES", "REBUILD_BATCH",
    )  # fmt: skip
