"""cortex-simulator: an OpenAI-compatible simulated model server."""

from cortex_simulator.app import create_app, model_prefix
from cortex_simulator.settings import ConfigError, Settings

__all__ = ["ConfigError", "Settings", "create_app", "model_prefix"]
