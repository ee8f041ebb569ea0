"""Logging of a gateway process (the main one, and each uvicorn worker it spawns)."""

import logging


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
