import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from cortex_contracts.services import service
from cortex_contracts.settings import (
    DatabaseSettings,
    NatsSettings,
    ReadYourWritesSettings,
    ServiceSettings,
    service_config,
)
from cortex_gateway.auth.policy import password_problem, username_problem

#: Gateway variables that had no service in their name (CORTEX_<NAME> -> CORTEX_GATEWAY_<NAME>).
_RENAMED = (
    "WEB_DIST",
    "MODELS_FILE",
    "ADMIN_USERNAME",
    "ADMIN_PASSWORD",
    "ADMIN_PASSWORD_FILE",
    "COOKIE_SECURE",
    "SESSION_IDLE_SEC",
    "SESSION_MAX_SEC",
    "MAX_MESSAGE_BYTES",
    "QUERY_TIMEOUT_SEC",
    "UPSTREAM_CONNECT_TIMEOUT_SEC",
    "UPSTREAM_READ_TIMEOUT_SEC",
    "UPSTREAM_MAX_CONNECTIONS",
    "ENGINE_INFO_TTL_SEC",
    "MAX_COMPLETION_REQUEST_BYTES",
)


class Settings(ServiceSettings, NatsSettings, DatabaseSettings, ReadYourWritesSettings):
    model_config = service_config("gateway")

    port: int = Field(default=service("gateway").port, ge=1, le=65535)
    # Addresses or networks (comma-separated, e.g. "10.0.0.0/8") of the reverse proxies whose
    # X-Forwarded-For / X-Forwarded-Proto are believed; empty: nobody's, not even a local one.
    trusted_proxies: str = ""
    # Processes serving the port (uvicorn workers): one event loop relays the streams of one
    # process, so a node with N cores relays about N times as many with N workers.
    workers: int = Field(default=1, ge=1)
    web_dist: Path = Path("web/dist")
    models_file: Path | None = None

    admin_username: str = Field(default="admin", min_length=1)
    admin_password: SecretStr | None = None
    admin_password_file: Path | None = None

    cookie_secure: bool = False
    session_idle_sec: int = Field(default=8 * 3600, gt=0)
    session_max_sec: int = Field(default=7 * 86400, gt=0)

    max_message_bytes: int = Field(default=1024 * 1024, gt=0)
    # How long the gateway waits for another service's answer to a query over NATS.
    query_timeout_sec: float = Field(default=5.0, gt=0)
    # Outages: the longest wait for PostgreSQL (a pooled connection, a new one, each answer) and
    # for NATS (a JetStream acknowledgement or API answer); then 503 with Retry-After.
    db_timeout_sec: float = Field(default=2.0, gt=0)
    nats_timeout_sec: float = Field(default=3.0, gt=0)

    # Completions proxy (completions/, models/engine.py).
    upstream_connect_timeout_sec: float = Field(default=5.0, gt=0)
    # Longest silence accepted from a model server (before the first token and between chunks).
    upstream_read_timeout_sec: float = Field(default=300.0, gt=0)
    upstream_max_connections: int = Field(default=2000, ge=1)
    # Context sizes discovered from the engines are cached this long.
    engine_info_ttl_sec: float = Field(default=300.0, gt=0)
    # Request body caps (413 before the body is read when its length is declared, else as soon
    # as it passes the cap): completions, the auth routes, every other route.
    max_completion_request_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    max_auth_body_bytes: int = Field(default=64 * 1024, gt=0)
    # A chat message of CORTEX_GATEWAY_MAX_MESSAGE_BYTES fits even with every character \u-escaped.
    max_body_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    # How often chats past the retention limit are erased (docs/audit.md); the limit itself is
    # set by an administrator (PUT /admin/retention), off by default.
    retention_interval_sec: float = Field(default=3600.0, gt=0)
    # /openapi.json and /docs without logging in.
    api_docs_public: bool = False

    renamed: ClassVar[Mapping[str, str]] = {
        f"CORTEX_{name}": f"CORTEX_GATEWAY_{name}" for name in _RENAMED
    }

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies_are_addresses(cls, value: str) -> str:
        for item in filter(None, (part.strip() for part in value.split(","))):
            if item != "*":
                ipaddress.ip_network(item, strict=False)  # ValueError names the bad entry
        return value

    @field_validator("admin_username")
    @classmethod
    def _admin_username_is_valid(cls, value: str) -> str:
        problem = username_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("admin_password", mode="before")
    @classmethod
    def _empty_admin_password_means_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("admin_password")
    @classmethod
    def _admin_password_follows_policy(cls, value: SecretStr | None) -> SecretStr | None:
        problem = None if value is None else password_problem(value.get_secret_value())
        if problem:
            raise ValueError(problem)
        return value
