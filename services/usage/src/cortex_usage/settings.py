from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field

from cortex_contracts.services import service
from cortex_contracts.settings import DatabaseSettings, NatsSettings


class Settings(NatsSettings, DatabaseSettings):
    host: str = Field(default="0.0.0.0", alias="CORTEX_USAGE_HOST")
    port: int = Field(default=service("usage").port, alias="CORTEX_USAGE_PORT", ge=1, le=65535)
    fetch_batch: int = Field(
        default=1000,
        alias="CORTEX_USAGE_FETCH_BATCH",
        ge=1,
        le=5000,
        description="events pulled, inserted in one transaction and acknowledged together",
    )
    batches_in_flight: int = Field(
        default=2,
        alias="CORTEX_USAGE_BATCHES_IN_FLIGHT",
        ge=1,
        le=16,
        description="batches being stored at once: the next is fetched while others commit",
    )
    ack_wait_sec: float = Field(
        default=10.0,
        alias="CORTEX_USAGE_ACK_WAIT_SEC",
        gt=0,
        description="an event not acknowledged in this time (replica died) is delivered again",
    )
    max_deliveries: int = Field(
        default=10,
        alias="CORTEX_USAGE_MAX_DELIVERIES",
        ge=2,
        description="an event the database still rejects after this many tries is dead-lettered",
    )
    max_event_bytes: int = Field(
        default=1024 * 1024,
        alias="CORTEX_USAGE_MAX_EVENT_BYTES",
        ge=1024,
        description="a larger usage event is parked as oversized (a real one is a few kB)",
    )
    query_timeout_sec: float = Field(
        default=25.0,
        alias="CORTEX_USAGE_STATEMENT_TIMEOUT_SEC",
        gt=0,
        description="statement timeout of a usage query (the gateway waits 30 s for an answer)",
    )
    query_work_mem: str = Field(
        default="64MB",
        alias="CORTEX_USAGE_QUERY_WORK_MEM",
        pattern=r"^[1-9][0-9]{0,5}(kB|MB|GB)$",
        description="PostgreSQL work_mem of a usage query or rollup: hash aggregates in memory",
    )
    rollup_interval_sec: float = Field(
        default=5.0,
        alias="CORTEX_USAGE_ROLLUP_INTERVAL_SEC",
        gt=0,
        description="how often hours and days are rolled up into usage_hourly and usage_daily",
    )
    rollup_settle_sec: float = Field(
        default=5.0,
        alias="CORTEX_USAGE_ROLLUP_SETTLE_SEC",
        ge=0,
        description="an hour is rolled up once no record arrived for it in this time",
    )

    renamed: ClassVar[Mapping[str, str]] = {
        **{
            f"USAGE_{name}": f"CORTEX_USAGE_{name}"
            for name in (
                "HOST",
                "PORT",
                "FETCH_BATCH",
                "BATCHES_IN_FLIGHT",
                "ACK_WAIT_SEC",
                "MAX_DELIVERIES",
                "QUERY_WORK_MEM",
                "ROLLUP_INTERVAL_SEC",
                "ROLLUP_SETTLE_SEC",
            )
        },
        # a PostgreSQL statement timeout, not the gateway's wait for an answer
        "USAGE_QUERY_TIMEOUT_SEC": "CORTEX_USAGE_STATEMENT_TIMEOUT_SEC",
    }
