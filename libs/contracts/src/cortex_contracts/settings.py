"""Settings every service shares; each service's own Settings class inherits what it needs.

One naming rule for environment variables: a field declared here (shared by several services)
is `CORTEX_<NAME>`; a field a service declares in its own `Settings` is
`CORTEX_<SERVICE>_<NAME>` (`CORTEX_SESSIONS_PORT`, `CORTEX_USAGE_STATEMENT_TIMEOUT_SEC`): its
`model_config = service_config("<service>")` derives those names from the field names.
Renamed variables are still read for one release, with a warning: each class lists its old
names in `renamed` (tests/unit/test_settings_names.py checks the rule and that the README
lists every variable).
"""

import logging
import os
from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

from cortex_contracts.topology import Topology

log = logging.getLogger("cortex.settings")


class RenamedVariables(EnvSettingsSource):
    """The environment seen under the new names of renamed variables set under their old
    ones; read after the real environment, so a new name always wins."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        renamed: dict[str, str] = {}
        for old, new in renamed_variables(self.settings_cls).items():
            if old not in os.environ:
                continue
            if new in os.environ:
                log.warning("%s is ignored: %s, its new name, is set", old, new)
                continue
            log.warning("%s is renamed %s; the old name is read until the next release", old, new)
            renamed[new] = os.environ[old]
        return parse_env_vars(renamed, self.case_sensitive, self.env_ignore_empty)


def _keys_by_variable(settings_cls: type[BaseSettings]) -> dict[str, tuple[str, str]]:
    """Environment variable -> (field name, key the field is validated from)."""
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    keys: dict[str, tuple[str, str]] = {}
    for name, field in settings_cls.model_fields.items():
        alias = field.alias if isinstance(field.alias, str) else None
        variable = alias or f"{prefix}{name}".upper()
        keys[variable] = (name, alias or name)
    return keys


def renamed_variables(settings_cls: type[BaseSettings]) -> dict[str, str]:
    """Old name -> new name, from the `renamed` of the class and of every base class."""
    merged: dict[str, str] = {}
    for klass in reversed(settings_cls.__mro__):
        merged.update(klass.__dict__.get("renamed", {}))
    return merged


def environment_variables(settings_cls: type[BaseSettings]) -> list[str]:
    """Every variable a Settings class reads (new names), in field order."""
    return list(_keys_by_variable(settings_cls))


class CortexSettings(BaseSettings):
    """Base of every settings class: reads renamed variables for one more release."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    #: Old variable name -> its new name, for this class's own fields (bases list theirs).
    renamed: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            RenamedVariables(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )


def service_config(service: str) -> SettingsConfigDict:
    """The config of a service's own Settings: a field it declares without an alias (and the
    `host` of ServiceSettings) is read from CORTEX_<SERVICE>_<FIELD>, so the rule holds by
    construction; the shared bases' fields keep their CORTEX_<NAME>."""
    prefix = f"CORTEX_{service.upper()}_"
    return SettingsConfigDict(alias_generator=lambda field: prefix + field.upper())


def old_service_names(service: str, *names: str) -> dict[str, str]:
    """`renamed` of a service's settings that were read from `<SERVICE>_<NAME>`: each name
    maps to its `CORTEX_<SERVICE>_<NAME>`."""
    prefix = service.upper() + "_"
    return {prefix + name: f"CORTEX_{prefix}{name}" for name in names}


class ServiceSettings(CortexSettings):
    """Where a service's HTTP server listens: `host` here, `port` declared by the service (its
    default from the table of services, cortex_contracts.services)."""

    host: str = "0.0.0.0"


class NatsSettings(CortexSettings):
    nats_url: str = Field(default="nats://127.0.0.1:4222", alias="CORTEX_NATS_URL")
    nats_prefix: str = Field(
        default="cortex", alias="CORTEX_NATS_PREFIX", pattern=r"^[a-z][a-z0-9_]{0,30}$"
    )
    stream_replicas: int = Field(default=1, alias="CORTEX_STREAM_REPLICAS", ge=1, le=5)
    # Part of every chat subject: set once per deployment, changing it needs a new stream.
    chat_partitions: int = Field(default=1, alias="CORTEX_CHAT_PARTITIONS", ge=1, le=1024)
    log_level: str = Field(default="INFO", alias="CORTEX_LOG_LEVEL")

    renamed: ClassVar[Mapping[str, str]] = {
        "NATS_URL": "CORTEX_NATS_URL",
        "LOG_LEVEL": "CORTEX_LOG_LEVEL",
    }

    @property
    def topology(self) -> Topology:
        return Topology(
            prefix=self.nats_prefix,
            replicas=self.stream_replicas,
            chat_partitions=self.chat_partitions,
        )


class DatabaseSettings(CortexSettings):
    database_url: str = Field(
        default="postgresql+psycopg://postgres@127.0.0.1:5432/cortex", alias="CORTEX_DATABASE_URL"
    )
    db_pool_size: int = Field(default=10, alias="CORTEX_DATABASE_POOL_SIZE", ge=1, le=200)

    renamed: ClassVar[Mapping[str, str]] = {
        "DATABASE_URL": "CORTEX_DATABASE_URL",
        "DB_POOL_SIZE": "CORTEX_DATABASE_POOL_SIZE",
    }

    @field_validator("database_url")
    @classmethod
    def _use_psycopg_driver(cls, url: str) -> str:
        """Accept plain `postgresql://` DSNs and select the psycopg 3 driver."""
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                return "postgresql+psycopg://" + url[len(plain) :]
        if not url.startswith("postgresql+psycopg://"):
            raise ValueError("CORTEX_DATABASE_URL must be a postgresql:// URL")
        return url


class ReadYourWritesSettings(CortexSettings):
    """How long a query waits for the projection to reach the caller's last write: the
    gateway sends it with a query, sessions caps the wait with it."""

    read_your_writes_timeout_sec: float = Field(
        default=2.0, alias="CORTEX_READ_YOUR_WRITES_TIMEOUT_SEC", gt=0
    )
