"""cortex-gateway [serve] | migrate"""

import argparse
import logging

import uvicorn

from cortex_contracts.runtime.config import load_settings
from cortex_gateway.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="cortex-gateway")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    args = parser.parse_args()
    settings = load_settings(Settings, "cortex-gateway")
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "migrate":
        from cortex_gateway.migrate import migrate

        migrate(settings.database_url)
        return
    from cortex_gateway.app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
