"""Load a service's settings, or exit with one clear line naming what is wrong; set up its logs."""

import logging
import sys
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
