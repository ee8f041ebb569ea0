"""The gateway's OpenAPI document: current in docs/ and in the web UI's generated types, and
saying what every route answers (schemathesis holds it to the running gateway in
tests/e2e/test_api_contract.py)."""

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.responses import JSONResponse

from cortex_gateway.app import create_app
from cortex_gateway.completions.entry import in_openai_shape
from cortex_gateway.settings import Settings

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
GENERATED_TYPES = ROOT / "web" / "src" / "lib" / "api.gen.ts"
OPENAPI_TYPESCRIPT = ROOT / "web" / "node_modules" / "openapi-typescript" / "bin" / "cli.js"
ERROR = "#/components/schemas/ErrorBody"
OPENAI_ERROR = "#/components/schemas/OpenAIErrorBody"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(Settings()).openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def test_the_committed_document_is_current(document: dict[str, Any]) -> None:
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())

    assert committed == document, "docs/openapi.json is stale: run `make schemas`"


def test_the_web_ui_types_are_generated_from_the_current_document(
    document: dict[str, Any], tmp_path: Path
) -> None:
    assert OPENAPI_TYPESCRIPT.exists(), "openapi-typescript is not installed: run `make web`"
    source, generated = tmp_path / "openapi.json", tmp_path / "api.gen.ts"
    source.write_text(json.dumps(document, indent=2) + "\n")

    subprocess.run(
        ["node", str(OPENAPI_TYPESCRIPT), str(source), "--output", str(generated)],
        check=True,
        capture_output=True,
        timeout=120,
    )

    assert generated.read_text() == GENERATED_TYPES.read_text(), (
        "web/src/lib/api.gen.ts is stale: run `make schemas`"
    )


def test_every_error_has_the_one_error_shape(document: dict[str, Any]) -> None:
    """`{"detail", "errors"?}` everywhere, OpenAI's shape under /v1/chat/completions (and a
    comparison pane's completions, the same path); never FastAPI's own 422 schema, which the
    gateway does not answer."""
    assert "HTTPValidationError" not in json.dumps(document)
    for method, path, operation in operations(document):
        openai = path.startswith("/v1/chat/completions") or path.endswith("/completions")
        shape = OPENAI_ERROR if openai else ERROR
        for status, answer in operation["responses"].items():
            if status[0] in "45":
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": shape}, f"{method} {path} {status}"


def test_every_route_declares_the_errors_of_its_kind(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        declared = set(operation["responses"])
        if path != "/auth/login":  # behind a login, which PostgreSQL checks
            assert {"401", "503"} <= declared, f"{method} {path}"
        if "requestBody" in operation:  # unreadable (400), too large (413), invalid (422)
            assert {"400", "413", "422"} <= declared, f"{method} {path}"


def test_an_error_of_the_app_is_put_in_openai_shape_under_completions() -> None:
    answer = JSONResponse(
        {"detail": "The sessions service is not answering."},
        status_code=503,
        headers={"Retry-After": "1"},
    )

    reshaped = in_openai_shape(answer)

    assert reshaped.status_code == 503
    assert reshaped.headers["Retry-After"] == "1"
    assert json.loads(bytes(reshaped.body)) == {
        "error": {
            "message": "The sessions service is not answering.",
            "type": "server_error",
            "code": None,
        }
    }
