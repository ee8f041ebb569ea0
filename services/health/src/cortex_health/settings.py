from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field, model_validator

from cortex_contracts.services import service
from cortex_contracts.settings import (
    NatsSettings,
    ServiceSettings,
    old_service_names,
    service_config,
)


class Settings(ServiceSettings, NatsSettings):
    model_config = service_config("health")

    port: int = Field(default=service("health").port, ge=1, le=65535)
    poll_sec: float = Field(default=15.0, gt=0)
    ttl_sec: float = Field(default=20.0, alias="CORTEX_HEALTH_CHECK_TTL_SEC", gt=0)
    probe_timeout_sec: float = Field(default=5.0, gt=0)

    renamed: ClassVar[Mapping[str, str]] = old_service_names(
        "health", "HOST", "PORT", "POLL_SEC", "CHECK_TTL_SEC", "PROBE_TIMEOUT_SEC"
    )

    @model_validator(mode="after")
    def _ttl_outlives_poll(self) -> "Settings":
        """A TTL not longer than the poll interval makes healthy models flicker out of the list."""
        if self.ttl_sec <= self.poll_sec:
            raise ValueError(
                f"CORTEX_HEALTH_CHECK_TTL_SEC ({self.ttl_sec:g}) must be greater than "
                f"CORTEX_HEALTH_POLL_SEC ({self.poll_sec:g})"
            )
        if self.probe_timeout_sec >= self.poll_sec:
            raise ValueError(
                f"CORTEX_HEALTH_PROBE_TIMEOUT_SEC ({self.probe_timeout_sec:g}) must be less than "
                f"CORTEX_HEALTH_POLL_SEC ({self.poll_sec:g})"
            )
        return self
