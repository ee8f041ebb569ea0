from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from cortex_contracts.settings import DatabaseSettings, NatsSettings
from cortex_gateway.auth.policy import password_problem, username_problem


class Settings(NatsSettings, DatabaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    host: str = Field(default="0.0.0.0", alias="CORTEX_GATEWAY_HOST")
    port: int = Field(default=8084, alias="CORTEX_GATEWAY_PORT", ge=1, le=65535)
    # Processes serving the port (uvicorn workers): one event loop relays the streams of one
    # process, so a node with N cores relays about N times as many with N workers.
    workers: int = Field(default=1, alias="CORTEX_GATEWAY_WORKERS", ge=1)
    web_dist: Path = Field(default=Path("web/dist"), alias="CORTEX_WEB_DIST")
    models_file: Path | None = Field(default=None, alias="CORTEX_MODELS_FILE")

    admin_username: str = Field(default="admin", alias="CORTEX_ADMIN_USERNAME", min_length=1)
    admin_password: SecretStr | None = Field(default=None, alias="CORTEX_ADMIN_PASSWORD")
    admin_password_file: Path | None = Field(default=None, alias="CORTEX_ADMIN_PASSWORD_FILE")

    cookie_secure: bool = Field(default=False, alias="CORTEX_COOKIE_SECURE")
    session_idle_sec: int = Field(default=8 * 3600, alias="CORTEX_SESSION_IDLE_SEC", gt=0)
    session_max_sec: int = Field(default=7 * 86400, alias="CORTEX_SESSION_MAX_SEC", gt=0)

    max_message_bytes: int = Field(default=1024 * 1024, alias="CORTEX_MAX_MESSAGE_BYTES", gt=0)
    read_your_writes_timeout_sec: float = Field(
        default=2.0, alias="CORTEX_READ_YOUR_WRITES_TIMEOUT_SEC", gt=0
    )
    query_timeout_sec: float = Field(default=5.0, alias="CORTEX_QUERY_TIMEOUT_SEC", gt=0)

    # Completions proxy (completions/, models/engine.py).
    upstream_connect_timeout_sec: float = Field(
        default=5.0, alias="CORTEX_UPSTREAM_CONNECT_TIMEOUT_SEC", gt=0
    )
    # Longest silence accepted from a model server (before the first token and between chunks).
    upstream_read_timeout_sec: float = Field(
        default=300.0, alias="CORTEX_UPSTREAM_READ_TIMEOUT_SEC", gt=0
    )
    upstream_max_connections: int = Field(
        default=2000, alias="CORTEX_UPSTREAM_MAX_CONNECTIONS", ge=1
    )
    # Context sizes discovered from the engines are cached this long.
    engine_info_ttl_sec: float = Field(default=300.0, alias="CORTEX_ENGINE_INFO_TTL_SEC", gt=0)
    # Request body caps (413 before the body is read when its length is declared, else as soon
    # as it passes the cap): completions, the auth routes, every other route.
    max_completion_request_bytes: int = Field(
        default=16 * 1024 * 1024, alias="CORTEX_MAX_COMPLETION_REQUEST_BYTES", gt=0
    )
    max_auth_body_bytes: int = Field(default=64 * 1024, alias="CORTEX_MAX_AUTH_BODY_BYTES", gt=0)
    # A chat message of CORTEX_MAX_MESSAGE_BYTES fits even with every character \u-escaped.
    max_body_bytes: int = Field(default=8 * 1024 * 1024, alias="CORTEX_MAX_BODY_BYTES", gt=0)
    # /openapi.json and /docs without logging in.
    api_docs_public: bool = Field(default=False, alias="CORTEX_API_DOCS_PUBLIC")

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
