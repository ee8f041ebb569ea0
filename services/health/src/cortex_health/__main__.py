"""cortex-health: polls model servers and publishes health."""

import logging

import uvicorn

from cortex_contracts.runtime.config import load_settings
from cortex_health.settings import Settings


def main() -> None:
    settings = load_settings(Settings, "cortex-health")
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    from cortex_health.app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
