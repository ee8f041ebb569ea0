from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field

from cortex_contracts.services import service
from cortex_contracts.settings import (
    DatabaseSettings,
    NatsSettings,
    ServiceSettings,
    old_service_names,
    service_config,
)


class Settings(ServiceSettings, NatsSettings, DatabaseSettings):
    model_config = service_config("usage")

    port: int = Field(default=service("usage").port, ge=1, le=65535)
    #: events pulled, inserted in one transaction and acknowledged together
    fetch_batch: int = Field(default=1000, ge=1, le=5000)
    #: batches being stored at once: the next is fetched while others commit
    batches_in_flight: int = Field(default=2, ge=1, le=16)
    #: an event not acknowledged in this time (replica died) is delivered again
    ack_wait_sec: float = Field(default=10.0, gt=0)
    #: an event the database still rejects after this many tries is dead-lettered
    max_deliveries: int = Field(default=10, ge=2)
    #: a larger usage event is parked as oversized (a real one is a few kB)
    max_event_bytes: int = Field(default=1024 * 1024, ge=1024)
    #: PostgreSQL statement timeout of a usage query (the gateway waits 30 s for an answer)
    query_timeout_sec: float = Field(default=25.0, alias="CORTEX_USAGE_STATEMENT_TIMEOUT_SEC", gt=0)
    #: PostgreSQL work_mem of a usage query or rollup: hash aggregates in memory
    query_work_mem: str = Field(default="64MB", pattern=r"^[1-9][0-9]{0,5}(kB|MB|GB)$")
    #: how often hours and days are rolled up into usage_hourly and usage_daily
    rollup_interval_sec: float = Field(default=5.0, gt=0)
    #: an hour is rolled up once no record arrived for it in this time
    rollup_settle_sec: float = Field(default=5.0, ge=0)
    #: verify the tables against a replay this often (0: never; docs/audit.md)
    verify_interval_sec: float = Field(default=0.0, ge=0)

    renamed: ClassVar[Mapping[str, str]] = old_service_names(
        "usage", "HOST", "PORT", "FETCH_BATCH", "BATCHES_IN_FLIGHT", "ACK_WAIT_SEC",
        "MAX_DELIVERIES", "QUERY_WORK_MEM", "ROLLUP_INTERVAL_SEC", "ROLLUP_SETTLE_SEC",
    ) | {
        # a PostgreSQL statement timeout, not the gateway's wait for an answer
        "USAGE_QUERY_TIMEOUT_SEC": "CORTEX_USAGE_STATEMENT_TIMEOUT_SEC",
    }  # fmt: skip
