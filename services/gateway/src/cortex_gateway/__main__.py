"""cortex-gateway [serve] | migrate | openapi [PATH]"""

import argparse
import json
import sys
from pathlib import Path

import uvicorn

from cortex_gateway.settings import Settings
from cortex_runtime.config import configure_logging, load_settings

# uvicorn builds the app in each worker process from this factory (settings come from the env).
APP_FACTORY = "cortex_gateway.app:app_from_environment"
# How long an idle client connection stays open. It must outlast the clients' own idle expiry
# (httpx and Node 5 s, aiohttp 15 s, nginx and load balancers 60 s): at uvicorn's default of 5 s
# the gateway closed connections at the moment a client with the same 5 s sent its next request
# on one, and that request died with a ReadError (1 in 300 completions in the soak).
KEEP_ALIVE_SEC = 75


def main() -> None:
    parser = argparse.ArgumentParser(prog="cortex-gateway")
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve", "migrate", "openapi"]
    )
    parser.add_argument("path", nargs="?", help="openapi: write the document there")
    args = parser.parse_args()
    if args.path is not None and args.command != "openapi":
        parser.error(f"{args.command} takes no path")
    if args.command == "openapi":  # the document only: no settings from the environment
        write_openapi(args.path)
        return
    settings = load_settings(Settings, "cortex-gateway")  # checked once, before any worker
    configure_logging(settings.log_level)
    if args.command == "migrate":
        from cortex_gateway.migrate import migrate

        migrate(settings.database_url)
        return
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        http="httptools",  # completions write streams straight to its sockets (client_wire.py)
        workers=settings.workers,  # 1: served in this process, no supervisor
        host=settings.host,
        port=settings.port,
        # The client address decides login throttling and the audit trail: only the configured
        # proxies may set it (uvicorn would otherwise believe any local client).
        proxy_headers=bool(settings.trusted_proxies.strip()),
        forwarded_allow_ips=settings.trusted_proxies.strip() or None,
        log_level=settings.log_level.lower(),
        timeout_keep_alive=KEEP_ALIVE_SEC,
        timeout_graceful_shutdown=5,
    )


def write_openapi(path: str | None) -> None:
    """The OpenAPI document as JSON (`make schemas` turns it into the web UI's types), built
    without any backend."""
    from cortex_gateway.app import create_app  # here: a served worker builds its own app

    text = json.dumps(create_app(Settings()).openapi(), indent=2) + "\n"
    if path:
        Path(path).write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
