"""Process settings (environment variables) and model list loading."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import Field, TypeAdapter, ValidationError
from pydantic_settings import SettingsConfigDict

from cortex_contracts.services import service
from cortex_contracts.settings import CortexSettings, old_service_names
from cortex_simulator.models import DEFAULT_MODELS, ModelConfig


class ConfigError(Exception):
    """Invalid configuration; the message is one human-readable line."""


class Settings(CortexSettings):
    """Simulator settings.

    - ``CORTEX_SIMULATOR_HOST`` (default ``127.0.0.1``)
    - ``CORTEX_SIMULATOR_PORT`` (default ``8090``)
    - ``CORTEX_SIMULATOR_MODELS_FILE``: YAML file ``models: [{name, personality, ...}]``;
      default: none, which serves the two built-in models.
    - ``CORTEX_SIMULATOR_MODELS``: the same list inline as JSON (wins over the file); default: none.
    - ``CORTEX_SIMULATOR_LOG_LEVEL`` (default ``info``)
    - ``CORTEX_SIMULATOR_ACCESS_LOG`` (default ``false``: keeps the benchmark baseline lean)
    """

    # A prefix, not aliases: its errors name the field (`invalid CORTEX_SIMULATOR_* setting: port`).
    model_config = SettingsConfigDict(env_prefix="CORTEX_SIMULATOR_")

    host: str = "127.0.0.1"
    port: int = Field(default=service("simulator").port, ge=0, le=65535)
    models_file: Path | None = None
    models: list[ModelConfig] | None = None
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "info"
    access_log: bool = False

    renamed: ClassVar[Mapping[str, str]] = old_service_names(
        "simulator", "HOST", "PORT", "MODELS_FILE", "MODELS", "LOG_LEVEL", "ACCESS_LOG"
    )


_MODEL_LIST = TypeAdapter(list[ModelConfig])


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err.get("loc", ()))
    return f"{loc}: {err.get('msg', 'invalid')}" if loc else str(err.get("msg", "invalid"))


def _read_models_file(path: Path) -> list[ModelConfig]:
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot read CORTEX_SIMULATOR_MODELS_FILE {path}: {exc.strerror}"
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"CORTEX_SIMULATOR_MODELS_FILE {path} is not valid YAML") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("models"), list):
        raise ConfigError(f"CORTEX_SIMULATOR_MODELS_FILE {path} must contain 'models: [...]'")
    try:
        return _MODEL_LIST.validate_python(raw["models"])
    except ValidationError as exc:
        raise ConfigError(
            f"CORTEX_SIMULATOR_MODELS_FILE {path}: models.{_first_error(exc)}"
        ) from exc


def load_models(settings: Settings) -> list[ModelConfig]:
    """The models to serve: inline list, else the YAML file, else the built-in defaults."""
    if settings.models is not None:
        models = list(settings.models)
    elif settings.models_file is not None:
        models = _read_models_file(settings.models_file)
    else:
        models = list(DEFAULT_MODELS)
    if not models:
        raise ConfigError("no models configured")
    seen: set[str] = set()
    for model in models:
        if model.name in seen:
            raise ConfigError(f"duplicate model name {model.name!r}")
        seen.add(model.name)
    return models


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (plus overrides); ConfigError on invalid values."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(f"invalid CORTEX_SIMULATOR_* setting: {_first_error(exc)}") from exc
