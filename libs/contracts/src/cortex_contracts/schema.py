"""JSON schema export of every event and request/reply message in this package."""

import importlib
import inspect
import json
import pkgutil
from pathlib import Path

from pydantic import BaseModel

import cortex_contracts.events
import cortex_contracts.messages


def contract_models() -> list[type[BaseModel]]:
    """Every pydantic model defined in `events` and `messages`, found by walking the packages."""
    found: dict[str, type[BaseModel]] = {}
    for package in (cortex_contracts.events, cortex_contracts.messages):
        modules = [package] + [
            importlib.import_module(f"{package.__name__}.{info.name}")
            for info in pkgutil.iter_modules(package.__path__)
        ]
        for module in modules:
            for _, value in inspect.getmembers(module, inspect.isclass):
                if issubclass(value, BaseModel) and value.__module__ == module.__name__:
                    found[value.__name__] = value
    return [found[name] for name in sorted(found)]


def write_json_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for model in contract_models():
        path = directory / f"{model.__name__}.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
