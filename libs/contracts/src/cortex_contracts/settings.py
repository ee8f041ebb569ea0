"""Settings every service shares; each service's own Settings class inherits what it needs."""

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cortex_contracts.topology import Topology


class NatsSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    nats_url: str = Field(default="nats://127.0.0.1:4222", alias="NATS_URL")
    nats_prefix: str = Field(
        default="cortex", alias="CORTEX_NATS_PREFIX", pattern=r"^[a-z][a-z0-9_]{0,30}$"
    )
    stream_replicas: int = Field(default=1, alias="CORTEX_STREAM_REPLICAS", ge=1, le=5)
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")

    @property
    def topology(self) -> Topology:
        return Topology(prefix=self.nats_prefix, replicas=self.stream_replicas)


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = Field(
        default="postgresql+psycopg://postgres@127.0.0.1:5432/cortex", alias="DATABASE_URL"
    )
    db_pool_size: int = Field(default=10, alias="DB_POOL_SIZE", ge=1, le=200)

    @field_validator("database_url")
    @classmethod
    def _use_psycopg_driver(cls, url: str) -> str:
        """Accept plain `postgresql://` DSNs and select the psycopg 3 driver."""
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                return "postgresql+psycopg://" + url[len(plain) :]
        if not url.startswith("postgresql+psycopg://"):
            raise ValueError("DATABASE_URL must be a postgresql:// URL")
        return url
