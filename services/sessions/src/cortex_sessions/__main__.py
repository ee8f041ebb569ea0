"""cortex-sessions [serve] | migrate | rebuild"""

import argparse

import uvicorn

from cortex_contracts.runtime.config import configure_logging, load_settings
from cortex_sessions.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="cortex-sessions")
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve", "migrate", "rebuild"]
    )
    args = parser.parse_args()
    settings = load_settings(Settings, "cortex-sessions")
    configure_logging(settings.log_level)
    if args.command == "migrate":
        from cortex_sessions.migrate import migrate

        migrate(settings.database_url)
    elif args.command == "rebuild":
        from cortex_sessions.rebuild import run

        run(settings)
    else:
        from cortex_sessions.app import create_app

        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            timeout_graceful_shutdown=5,
        )


if __name__ == "__main__":
    main()
