"""Errors as the OpenAPI document describes them: findings of schemathesis (test_api_contract.py),
each pinned here."""

import httpx
import pytest

from tests.conftest import LoginAs
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


async def test_a_nul_in_a_login_username_is_refused_not_a_server_error(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url) as anonymous:
        response = await anonymous.post(
            "/auth/login", json={"username": "adm\x00in", "password": "whatever-it-is"}
        )

    assert response.status_code == 422
    assert "NUL" in response.json()["detail"]


async def test_a_422_says_what_is_wrong_and_lists_each_problem(login_as: LoginAs) -> None:
    client = await login_as()

    response = await client.get("/v1/chat/sessions", params={"limit": 0})

    assert response.status_code == 422
    body = response.json()
    assert isinstance(body["detail"], str) and "limit" in body["detail"]
    assert body["errors"][0]["loc"] == ["query", "limit"]


async def test_a_body_that_is_not_text_is_a_json_400(login_as: LoginAs) -> None:
    client = await login_as("admin")

    response = await client.post(
        "/admin/orgs", content=b"\xff\x1a\xfe", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/v1/chat/sessions/00000000-0000-4000-8000-000000000000", "DELETE, GET"),
        ("/admin/keys", "GET, POST"),
        ("/admin/upstreams/refresh-health", "POST"),  # not DELETE /admin/upstreams/{name}'s
    ],
)
async def test_a_method_the_path_does_not_take_is_a_405_naming_those_it_takes(
    stack: Stack, path: str, allowed: str
) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url) as anonymous:
        response = await anonymous.request("PATCH", path)

    assert response.status_code == 405
    assert response.headers["Allow"] == allowed


async def test_a_unix_timestamp_is_not_taken_for_a_usage_date(login_as: LoginAs) -> None:
    admin = await login_as("admin")

    response = await admin.get("/admin/usage", params={"start": "-58800"})

    assert response.status_code == 422
    assert "start" in response.json()["detail"]


@pytest.mark.parametrize(
    "params",
    [
        {"model": "\x00x"},
        {"start": "0001-01-01T00:00:00Z", "group_by": "hour"},
        {"start": "0574-02-24T12:55:37Z", "end": "3613-02-28T03:33:38Z", "group_by": "day"},
    ],
)
async def test_usage_queries_the_store_cannot_answer_are_a_422_at_once(
    login_as: LoginAs, params: dict[str, str]
) -> None:
    """They used to hog or fail the usage service: a 503 after 30 s, other reports stalled."""
    admin = await login_as("admin")

    response = await admin.get("/admin/usage", params=params, timeout=10)

    assert response.status_code == 422, response.text


@pytest.mark.parametrize("size", ["4096", 4096.5, True])
async def test_a_model_server_size_must_be_a_number_as_the_document_says(
    login_as: LoginAs, size: object
) -> None:
    admin = await login_as("admin")
    body = {"served_model_name": "not-registered", "base_url": "http://h:1", "context_size": size}

    response = await admin.post("/admin/upstreams", json=body)

    assert response.status_code == 422, response.text
    assert "context_size" in response.json()["detail"]
