from pydantic import Field
from pydantic_settings import SettingsConfigDict

from cortex_contracts.settings import DatabaseSettings, NatsSettings


class Settings(NatsSettings, DatabaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    host: str = Field(default="0.0.0.0", alias="SESSIONS_HOST")
    port: int = Field(default=8085, alias="SESSIONS_PORT", ge=1, le=65535)
    fetch_batch: int = Field(default=100, alias="SESSIONS_FETCH_BATCH", ge=1, le=1000)
    read_your_writes_timeout_sec: float = Field(
        default=2.0, alias="CORTEX_READ_YOUR_WRITES_TIMEOUT_SEC", gt=0
    )
    max_deliveries: int = Field(
        default=20,
        alias="SESSIONS_MAX_DELIVERIES",
        ge=2,
        description="an event that still cannot be applied after this many tries is dead-lettered",
    )
