"""The generated contract documents in docs/ match the code (run `make schemas` after a change)."""

import json
from pathlib import Path

import pytest
import yaml

from cortex_contracts.schema import contract_models
from cortex_runtime.asyncapi import build_asyncapi

pytestmark = pytest.mark.unit
DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_asyncapi_document_is_current() -> None:
    committed = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    assert committed == yaml.safe_load(build_asyncapi()), "run `make schemas`"


def test_every_contract_has_a_current_json_schema() -> None:
    for model in contract_models():
        path = DOCS / "schemas" / f"{model.__name__}.json"
        assert path.exists(), f"{path.name} missing: run `make schemas`"
        assert json.loads(path.read_text()) == model.model_json_schema(), f"{path.name} is stale"


def test_chat_events_carry_the_envelope() -> None:
    schema = json.loads((DOCS / "schemas" / "SessionCreated.json").read_text())
    for field in ("event_id", "type", "schema_version", "occurred_at", "actor", "aggregate_id"):
        assert field in schema["properties"]
