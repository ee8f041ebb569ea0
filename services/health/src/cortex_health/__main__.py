"""cortex-health: polls model servers and publishes health."""

import uvicorn

from cortex_contracts.runtime.config import configure_logging, load_settings
from cortex_health.settings import Settings


def main() -> None:
    settings = load_settings(Settings, "cortex-health")
    configure_logging(settings.log_level)
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
