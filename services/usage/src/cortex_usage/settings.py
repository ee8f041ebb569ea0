from pydantic import Field
from pydantic_settings import SettingsConfigDict

from cortex_contracts.settings import DatabaseSettings, NatsSettings


class Settings(NatsSettings, DatabaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    host: str = Field(default="0.0.0.0", alias="USAGE_HOST")
    port: int = Field(default=8087, alias="USAGE_PORT", ge=1, le=65535)
