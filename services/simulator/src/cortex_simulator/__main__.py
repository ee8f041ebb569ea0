"""``cortex-simulator``: serve the simulated models."""

from __future__ import annotations

import argparse
import gc
import sys
from typing import Any

import uvicorn

from cortex_simulator.app import create_app
from cortex_simulator.settings import ConfigError, load_settings


def _parse_args(argv: list[str] | None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="cortex-simulator",
        description="OpenAI-compatible simulated model server (settings: CORTEX_SIMULATOR_*).",
    )
    parser.add_argument("--host", help="bind address (CORTEX_SIMULATOR_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (CORTEX_SIMULATOR_PORT, default 8090)")
    parser.add_argument("--models-file", help="YAML model list (CORTEX_SIMULATOR_MODELS_FILE)")
    args = parser.parse_args(argv)
    return {k: v for k, v in vars(args).items() if v is not None}


def main(argv: list[str] | None = None) -> None:
    overrides = _parse_args(argv)
    try:
        settings = load_settings(**overrides)
        app = create_app(settings)
    except ConfigError as exc:
        print(f"cortex-simulator: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    # What is loaded by now lives as long as the process: out of the garbage collector's full
    # passes, which would otherwise pause every stream now and then (as in the gateway).
    gc.collect()
    gc.freeze()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
        timeout_graceful_shutdown=3,
    )


if __name__ == "__main__":
    main()
