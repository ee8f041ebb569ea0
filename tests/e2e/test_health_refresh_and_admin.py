"""refresh-health, the admin upstream list, and the health service stopping or running twice."""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.conftest import LoginAs
from tests.support.health import (
    MODEL_NAMES,
    reset_faults,
    running_names,
    set_fault,
    wait_running,
    wait_until,
)
from tests.support.processes import ServiceProcess
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

VLLM, LLAMACPP = "sim-vllm-small", "sim-llamacpp-large"
REFRESH = "/admin/upstreams/refresh-health"


@pytest.fixture(autouse=True)
async def all_models_healthy(stack: Stack, login_as: LoginAs) -> AsyncIterator[None]:
    await reset_faults(stack)
    await wait_running(await login_as(), set(MODEL_NAMES))
    yield
    await reset_faults(stack)


@contextmanager
def health_service_replaced(stack: Stack, **settings: str) -> Iterator[ServiceProcess]:
    """The stack's health service swapped for one with other settings, restored afterwards."""
    stack.processes["health"].stop()
    replacement = stack.start_extra("health", **settings)
    try:
        yield replacement
    finally:
        replacement.stop()
        stack.processes["health"] = ServiceProcess("health", stack.env).start()


async def test_refresh_health_updates_the_running_list_at_once(
    stack: Stack, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    # Polls 30 s apart: only the refresh can explain a change seen right after it.
    with health_service_replaced(
        stack, CORTEX_HEALTH_POLL_SEC="30", CORTEX_HEALTH_CHECK_TTL_SEC="90"
    ):
        await wait_running(admin, set(MODEL_NAMES))
        await set_fault(stack, VLLM, down=True)

        down = await admin.post(REFRESH, json={"models": [VLLM]})

        assert down.status_code == 200, down.text
        [result] = down.json()["results"]
        assert result["served_model_name"] == VLLM
        assert result["status"] == "unhealthy"
        assert result["consecutive_failures"] >= 1
        assert "503" in result["last_error"]
        assert await running_names(admin) == [LLAMACPP]

        await reset_faults(stack)
        up = await admin.post(REFRESH)  # no body at all: the original system answered 500

        assert up.status_code == 200, up.text
        statuses = {r["served_model_name"]: r["status"] for r in up.json()["results"]}
        assert statuses == {LLAMACPP: "healthy", VLLM: "healthy"}
        assert await running_names(admin) == sorted(MODEL_NAMES)


async def test_a_registered_model_appears_within_one_poll_and_leaves_when_removed(
    stack: Stack, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    alias = f"sim-alias-{uuid.uuid4().hex[:8]}"
    with health_service_replaced(
        stack, CORTEX_HEALTH_POLL_SEC="60", CORTEX_HEALTH_CHECK_TTL_SEC="180"
    ):
        await wait_running(admin, set(MODEL_NAMES))
        registered = await admin.post(
            "/admin/upstreams",
            json={"served_model_name": alias, "engine_type": "vllm",
                  "base_url": f"{stack.simulator_url}/m/{VLLM}"},
        )  # fmt: skip
        assert registered.status_code == 201, registered.text
        try:
            # Well inside one 60 s interval: the registration itself triggers the first check.
            await wait_until(
                _names_are(admin, {*MODEL_NAMES, alias}), f"{alias} listed", deadline_sec=45
            )
            listed = {m["served_model_name"]: m for m in await running_models(admin)}
            assert listed[alias]["max_model_len"] == 8192
        finally:
            removed = await admin.delete(f"/admin/upstreams/{alias}")
        assert removed.status_code == 204, removed.text
        assert await running_names(admin) == MODEL_NAMES


@pytest.mark.parametrize("body", [None, {}, {"models": None}], ids=["no-body", "empty", "null"])
async def test_refresh_health_without_a_model_list_checks_every_model(
    login_as: LoginAs, body: dict[str, None] | None
) -> None:
    admin = await login_as("admin")

    response = (
        await admin.post(REFRESH, json=body) if body is not None else await admin.post(REFRESH)
    )

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert sorted(r["served_model_name"] for r in results) == MODEL_NAMES
    assert all(r["status"] == "healthy" and r["latency_ms"] > 0 for r in results)


async def test_refresh_health_rejects_bad_requests_with_a_reason(login_as: LoginAs) -> None:
    admin = await login_as("admin")
    user = await login_as()

    forbidden = await user.post(REFRESH)
    unknown = await admin.post(REFRESH, json={"models": ["no-such-model"]})
    malformed = await admin.post(REFRESH, json={"models": "sim-vllm-small"})
    nothing = await admin.post(REFRESH, json={"models": []})

    assert forbidden.status_code == 403
    assert unknown.status_code == 404
    assert "no-such-model" in unknown.json()["detail"]
    assert malformed.status_code == 422
    assert "models" in malformed.json()["detail"]
    assert nothing.status_code == 200
    assert nothing.json()["results"] == []


async def test_admin_upstreams_show_health_latency_and_history(
    stack: Stack, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    await set_fault(stack, VLLM, down=True)

    async def failures_recorded() -> bool:
        found = await upstreams_by_name(admin)
        return (
            len(found[VLLM]["history"]) >= 3
            and found[VLLM]["health"] is not None
            and (found[VLLM]["health"]["consecutive_failures"] >= 2)
        )

    await wait_until(failures_recorded, f"{VLLM} failing twice in a row")
    found = await upstreams_by_name(admin)

    assert sorted(found) == MODEL_NAMES
    for upstream in found.values():
        assert "api_key" not in upstream  # secrets never leave the server
        assert upstream["has_api_key"] is False
        assert upstream["base_url"].startswith(stack.simulator_url)
        checked = [check["checked_at"] for check in upstream["history"]]
        assert checked == sorted(checked, reverse=True), "history is newest first"
        assert upstream["history"][0]["checked_at"] == upstream["health"]["checked_at"]
    healthy = found[LLAMACPP]["health"]
    assert healthy["status"] == "healthy"
    assert healthy["latency_ms"] > 0
    assert healthy["consecutive_failures"] == 0
    assert healthy["last_error"] is None
    failing = found[VLLM]
    assert failing["health"]["status"] == "unhealthy"
    assert "/health answered 503" in failing["health"]["last_error"]
    latest, previous = failing["history"][:2]
    assert latest["consecutive_failures"] == previous["consecutive_failures"] + 1

    assert (await (await login_as()).get("/admin/upstreams")).status_code == 403


async def test_stopping_the_health_service_makes_every_model_expire(
    stack: Stack, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    stack.processes["health"].kill()
    try:
        await wait_running(admin, set())
        found = await upstreams_by_name(admin)
        assert all(u["health"] is None for u in found.values())
        assert all(u["history"] for u in found.values()), "the last known checks stay visible"
        refresh = await admin.post(REFRESH)
        assert refresh.status_code == 503
        assert "health service" in refresh.json()["detail"]
    finally:
        stack.processes["health"] = ServiceProcess("health", stack.env).start()

    await wait_running(admin, set(MODEL_NAMES))


async def test_two_health_replicas_answer_each_refresh_once(
    stack: Stack, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    second = stack.start_extra("health")
    try:
        for _ in range(4):
            response = await admin.post(REFRESH)
            assert response.status_code == 200, response.text
            names = [r["served_model_name"] for r in response.json()["results"]]
            assert sorted(names) == MODEL_NAMES
        assert await running_names(admin) == MODEL_NAMES
    finally:
        second.stop()


async def test_health_service_exports_probe_metrics(stack: Stack) -> None:
    async def probes_counted() -> bool:
        async with httpx.AsyncClient(base_url=stack.processes["health"].url) as client:
            text = (await client.get("/metrics")).text
        return all(
            f'cortex_health_probes_total{{model="{name}",status="healthy"}}' in text
            and f'cortex_health_probe_seconds_count{{model="{name}"}}' in text
            for name in MODEL_NAMES
        )

    await wait_until(probes_counted, "probe counters and latency histograms for every model")


def _names_are(client: httpx.AsyncClient, expected: set[str]) -> Callable[[], Awaitable[bool]]:
    async def reached() -> bool:
        return set(await running_names(client)) == expected

    return reached


async def running_models(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/v1/models/running")
    assert response.status_code == 200, response.text
    models: list[dict[str, Any]] = response.json()["models"]
    return models


async def upstreams_by_name(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    response = await client.get("/admin/upstreams")
    assert response.status_code == 200, response.text
    return {u["served_model_name"]: u for u in response.json()["upstreams"]}
