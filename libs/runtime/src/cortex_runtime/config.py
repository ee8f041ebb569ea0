"""Load a service's settings, or exit with one clear line naming what is wrong; set up its logs."""

import logging
import os
import sys
from pathlib import Path
from typing import NoReturn, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

S = TypeVar("S", bound=BaseSettings)


def describe_validation_error(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "settings"
        problems.append(f"{name}: {item['msg']}")
    return "; ".join(problems)


def load_settings(settings_class: type[S], service: str) -> S:
    try:
        return settings_class()
    except ValidationError as error:
        exit_with_config_error(service, describe_validation_error(error))


def configure_logging(level: str) -> None:
    """The same log format in every service (and every worker process of one)."""
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def exit_with_config_error(service: str, message: str) -> NoReturn:
    print(f"{service}: invalid configuration: {message}", file=sys.stderr)
    raise SystemExit(2)


def dev_stack_env(root: Path | None = None) -> dict[str, str]:
    """CORTEX_NATS_URL and CORTEX_DATABASE_URL of a `make dev` running from `root` (the current
    folder), for those not set: console tools (rebuild, verify) run from a checkout find the dev
    stack by themselves. Nothing in an image without the devstack package, or when no dev stack
    was started there."""
    try:
        from cortex_devstack.stack import running_database_url, running_nats_url
    except ImportError:
        return {}
    folder = root or Path.cwd()
    found = {
        "CORTEX_NATS_URL": ("NATS_URL", running_nats_url(folder)),
        "CORTEX_DATABASE_URL": ("DATABASE_URL", running_database_url(folder)),
    }
    return {
        name: url
        for name, (old_name, url) in found.items()
        if url and not os.environ.get(name) and not os.environ.get(old_name)
    }
